package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"etcdbrctl/backup"
	"etcdbrctl/providers"
	"etcdbrctl/providers/azblob"
	"etcdbrctl/providers/file"
	"etcdbrctl/providers/gcs"
	"etcdbrctl/providers/s3"
	"etcdbrctl/providers/swift"
)

// defaultStore is where backups go when neither --store nor
// --storage-provider is given.
const defaultStore = "./backups"

// storeFlags name the backup store and the keys its backups use. The store
// is given either as one URL (--store) or, as in gardener's etcdbrctl, as a
// provider with a container and a prefix.
type storeFlags struct {
	Store                    string   `help:"Where backups live, as a URL: file:///abs/path (or a plain directory path), s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix, swift://container/prefix (default \"./backups\"). Not together with --storage-provider." placeholder:"URL"`
	StorageProvider          string   `help:"The store as gardener's etcdbrctl names it: S3, GCS, ABS, Swift, ECS or OCS (S3-compatible), or Local (any case); with --store-container and --store-prefix, instead of --store." placeholder:"PROVIDER"`
	StoreContainer           string   `help:"Bucket or container of --storage-provider; with Local, a directory." env:"ETCDBR_STORE_CONTAINER,STORAGE_CONTAINER" placeholder:"NAME"`
	StorePrefix              string   `help:"Key prefix inside --store-container (a subdirectory with Local)." placeholder:"PREFIX"`
	StoreEndpointOverride    string   `help:"Endpoint URL of an S3-, GCS-, Azure- or Swift-compatible server, instead of the provider's default." placeholder:"URL"`
	StorePartSize            byteSize `help:"Size of the parts an upload of unknown length is cut into (S3 multipart parts, GCS chunks, Azure blocks, Swift segments); 0 is each provider's default (8MiB; 64MiB for Swift). Memory per upload is about this times the upload concurrency." default:"0" aliases:"min-chunk-size"`
	StoreUploadConcurrency   int      `help:"Parts of one upload sent at the same time (S3, Azure); 0 is the provider's default (4)." default:"0" aliases:"max-parallel-chunk-uploads"`
	EncryptionRecipient      []string `help:"Encrypt new backups to this age public key (age1...). Repeatable." placeholder:"AGE-PUBLIC-KEY"`
	EncryptionRecipientsFile string   `help:"File of age public keys, one per line, to encrypt new backups to." type:"path"`
	EncryptionIdentityFile   string   `help:"File of age secret keys (as age-keygen writes) to read encrypted backups." type:"path"`
}

// storageSchemes maps gardener's provider names, lower-cased, to store URL
// schemes.
var storageSchemes = map[string]string{
	"s3":    "s3",
	"ecs":   "s3", // Dell ECS speaks S3
	"ocs":   "s3", // OpenShift Container Storage speaks S3
	"gcs":   "gs",
	"abs":   "azblob",
	"swift": "swift",
	"local": "file",
}

// storeURL returns the store URL the flags describe and the flag to name in
// errors about it.
func (f storeFlags) storeURL() (raw, flag string, err error) {
	if f.StorageProvider == "" {
		for _, given := range []struct{ name, value string }{
			{"--store-container", f.StoreContainer},
			{"--store-prefix", f.StorePrefix},
			{"--store-endpoint-override", f.StoreEndpointOverride},
		} {
			if given.value != "" {
				return "", given.name, usagef("%s needs --storage-provider (or give the whole store as --store URL)", given.name)
			}
		}
		if f.Store == "" {
			return defaultStore, "--store", nil
		}
		return f.Store, "--store", nil
	}
	flag = "--storage-provider"
	if f.Store != "" {
		return "", flag, usagef("give either --store or --storage-provider, not both")
	}
	raw, err = composeStoreURL(f.StorageProvider, f.StoreContainer, f.StorePrefix, f.StoreEndpointOverride)
	if err != nil {
		return "", flag, usageError{err}
	}
	return raw, flag, nil
}

// composeStoreURL builds a store URL from gardener-style settings.
func composeStoreURL(provider, container, prefix, endpoint string) (string, error) {
	scheme, ok := storageSchemes[strings.ToLower(strings.TrimSpace(provider))]
	if !ok {
		if strings.EqualFold(provider, "OSS") {
			return "", fmt.Errorf("--storage-provider OSS is not supported; use its S3-compatible endpoint: --storage-provider S3 --store-endpoint-override URL")
		}
		return "", fmt.Errorf("--storage-provider %q is not known; use S3, GCS, ABS, Swift, ECS, OCS or Local", provider)
	}
	if container == "" {
		return "", fmt.Errorf("--storage-provider %s needs --store-container (or the STORAGE_CONTAINER variable)", provider)
	}
	prefix = strings.Trim(prefix, "/")
	if scheme == "file" {
		if endpoint != "" {
			return "", fmt.Errorf("--store-endpoint-override does not apply to --storage-provider Local")
		}
		dir, err := filepath.Abs(filepath.Join(container, filepath.FromSlash(prefix)))
		if err != nil {
			return "", fmt.Errorf("--store-container %q: %w", container, err)
		}
		return (&url.URL{Scheme: "file", Path: dir}).String(), nil
	}
	if strings.ContainsAny(container, "/?#@:") || strings.TrimSpace(container) != container {
		return "", fmt.Errorf("--store-container %q is not a bucket or container name (no '/', '?', '#', '@', ':' or surrounding spaces; put folders in --store-prefix)", container)
	}
	for seg := range strings.SplitSeq(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return "", fmt.Errorf("--store-prefix %q has an empty, \".\" or \"..\" folder", prefix)
		}
	}
	u := url.URL{Scheme: scheme, Host: container}
	if prefix != "" {
		u.Path = "/" + prefix
	}
	if endpoint != "" {
		e, err := url.Parse(endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return "", fmt.Errorf("--store-endpoint-override must be an http:// or https:// URL with a host, such as https://storage.example:9000")
		}
		if e.User != nil {
			return "", fmt.Errorf("--store-endpoint-override: credentials in the URL are not supported; use the provider's credential settings")
		}
		u.RawQuery = url.Values{"endpoint": {endpoint}}.Encode()
	}
	return u.String(), nil
}

// open checks the store flags; it creates nothing.
func (f storeFlags) open(ctx context.Context) (providers.Store, backup.Encryption, error) {
	var enc backup.Encryption
	var files []string
	if f.EncryptionRecipientsFile != "" {
		files = append(files, f.EncryptionRecipientsFile)
	}
	rs, err := backup.ParseRecipients(f.EncryptionRecipient, files)
	if err != nil {
		return nil, enc, usagef("--encryption-recipient: %v", err)
	}
	enc.Recipients = rs
	if f.EncryptionIdentityFile != "" {
		ids, err := backup.ParseIdentityFile(f.EncryptionIdentityFile)
		if err != nil {
			return nil, enc, usagef("--encryption-identity-file: %v", err)
		}
		enc.Identities = ids
	}
	raw, flag, err := f.storeURL()
	if err != nil {
		return nil, enc, err
	}
	if f.StorePartSize < 0 || f.StoreUploadConcurrency < 0 {
		return nil, enc, usagef("--store-part-size and --store-upload-concurrency must not be negative")
	}
	store, err := openStore(ctx, raw, storeOptions{PartSize: int64(f.StorePartSize), Concurrency: f.StoreUploadConcurrency})
	if err != nil {
		return nil, enc, usagef("%s: %v", flag, err)
	}
	return store, enc, nil
}

// openStore picks the provider for a store URL.
// storeOptions tune uploads; zero values are each provider's defaults.
type storeOptions struct {
	PartSize    int64
	Concurrency int
}

// openStore picks the provider for a store URL. It sends no request,
// except to Swift, which logs in first.
func openStore(ctx context.Context, raw string, o storeOptions) (providers.Store, error) {
	loc, err := providers.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case "file":
		return file.New(loc.Path)
	case "s3":
		return s3.New(ctx, loc, s3.Options{PartSize: o.PartSize, Concurrency: o.Concurrency})
	case "gs":
		return gcs.New(ctx, loc, gcs.Options{ChunkSize: int(o.PartSize)})
	case "azblob":
		return azblob.New(ctx, loc, azblob.Options{BlockSize: o.PartSize, Concurrency: o.Concurrency})
	case "swift":
		return swift.New(ctx, loc, swift.Options{SegmentSize: o.PartSize})
	default:
		return nil, fmt.Errorf("unknown store scheme %q in %s (supported: file, s3, gs, azblob, swift)", loc.Scheme, loc)
	}
}

// checkStore reads the store once, so an unreachable one fails before etcd starts.
func checkStore(ctx context.Context, store providers.Store) error {
	if _, err := backup.ReadCatalog(ctx, store); err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	return nil
}
