package embedded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"
	"sigs.k8s.io/yaml"
)

// configFromFile reads an etcd YAML config file with embed.ConfigFromFile.
//
// embed validates the file with a logger built from the file's own log
// settings, which would write to stderr (or wherever the file says) before
// etcdbrctl's logger is in place. So embed reads a copy whose log output is
// discarded; etcd repeats the same warnings through our logger at start.
func configFromFile(path string) (*embed.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	settings, err := decodeSettings(raw)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := checkFileURLs(settings); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}

	settings["log-outputs"] = []string{os.DevNull}
	settings["enable-log-rotation"] = false
	quiet, err := writeTempSettings(settings)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	defer os.Remove(quiet)

	cfg, err := embed.ConfigFromFile(quiet)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// decodeSettings parses YAML into a map, keeping numbers exact.
func decodeSettings(raw []byte) (map[string]any, error) {
	asJSON, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	settings := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(asJSON))
	dec.UseNumber()
	if err := dec.Decode(&settings); err != nil {
		return nil, err
	}
	if settings == nil { // an empty file decodes as null
		settings = map[string]any{}
	}
	return settings, nil
}

// checkFileURLs checks the URL settings of a config file, because embed
// answers a bad value in any of them with os.Exit.
func checkFileURLs(settings map[string]any) error {
	for _, setting := range []struct {
		key  string
		bind bool
	}{
		{"listen-peer-urls", true},
		{"listen-client-urls", true},
		{"listen-client-http-urls", true},
		{"listen-metrics-urls", true},
		{"initial-advertise-peer-urls", false},
		{"advertise-client-urls", false},
	} {
		s, ok := settings[setting.key].(string)
		if !ok || s == "" {
			continue
		}
		urls, err := parseURLs(setting.key, strings.Split(s, ","))
		if err != nil {
			return err
		}
		if err := checkHosts(setting.key, urls, setting.bind); err != nil {
			return err
		}
	}
	return nil
}

// writeTempSettings writes settings as JSON, which YAML readers accept, and
// returns the file's path.
func writeTempSettings(settings map[string]any) (string, error) {
	f, err := os.CreateTemp("", "etcd-config-*.json")
	if err != nil {
		return "", err
	}
	err = json.NewEncoder(f).Encode(settings)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
