package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Azurite's development account. Its name and key are published in
// Azurite's documentation and work only against the emulator.
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Azurite is the blob service of an Azurite emulator started for a test.
type Azurite struct {
	// Endpoint is the service URL of AzuriteAccount:
	// http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	// Addr is 127.0.0.1:PORT.
	Addr string
	Proc *Proc
}

// AzuriteOptions configures StartAzuriteWith.
type AzuriteOptions struct {
	// Location is a directory for disk persistence; empty keeps blobs in
	// memory.
	Location string
	// Containers to create once the server is up.
	Containers []string
}

// StartAzurite runs Azurite's blob service in memory on a free loopback port
// and creates the given containers.
func StartAzurite(tb testing.TB, containers ...string) *Azurite {
	tb.Helper()
	return StartAzuriteWith(tb, AzuriteOptions{Containers: containers})
}

// StartAzuriteWith runs Azurite's blob service as opts says. Node runs the
// service's entry point directly, so that there is one process to stop.
func StartAzuriteWith(tb testing.TB, opts AzuriteOptions) *Azurite {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		Unavailable(tb, "node is not installed: %v", err)
	}
	mainJS := filepath.Join(Root(tb), ".cache", "azurite", "node_modules", "azurite", "dist", "src", "blob", "main.js")
	if _, err := os.Stat(mainJS); err != nil {
		Unavailable(tb, "azurite is not installed (run scripts/test-tools.sh): %v", err)
	}
	port := FreePort(tb)
	args := []string{mainJS, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--skipApiVersionCheck", "--silent",
		// Without this, Azurite sends usage data to a host on the internet.
		"--disableTelemetry"}
	if opts.Location == "" {
		args = append(args, "--inMemoryPersistence")
	} else {
		args = append(args, "--location", opts.Location)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := Start(tb, "azurite", exec.Command(node, args...))
	p.WaitTCP(tb, addr, 30*time.Second)
	a := &Azurite{Endpoint: "http://" + addr + "/" + AzuriteAccount, Addr: addr, Proc: p}
	for _, c := range opts.Containers {
		a.CreateContainer(tb, c)
	}
	return a
}

// CreateContainer creates a container with the development account's key.
func (a *Azurite) CreateContainer(tb testing.TB, name string) {
	tb.Helper()
	cred, err := container.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(a.Endpoint+"/"+name, cred, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		tb.Fatalf("azurite: create container %q: %v", name, err)
	}
}
