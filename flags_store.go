package main

import (
	"context"
	"fmt"

	"etcdbrctl/backup"
	"etcdbrctl/providers"
	"etcdbrctl/providers/file"
)

// storeFlags name the backup store and the keys its backups use.
type storeFlags struct {
	Store                    string   `help:"Where backups live: file:///abs/path or a plain directory path." default:"./backups"`
	EncryptionRecipient      []string `help:"Encrypt new backups to this age public key (age1...). Repeatable." placeholder:"AGE-PUBLIC-KEY"`
	EncryptionRecipientsFile string   `help:"File of age public keys, one per line, to encrypt new backups to." type:"path"`
	EncryptionIdentityFile   string   `help:"File of age secret keys (as age-keygen writes) to read encrypted backups." type:"path"`
}

// openStore checks the store flags; it creates nothing.
func (f storeFlags) open() (providers.Store, backup.Encryption, error) {
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
	store, err := openStore(f.Store)
	if err != nil {
		return nil, enc, usagef("--store: %v", err)
	}
	return store, enc, nil
}

// openStore picks the provider for a store URL.
func openStore(raw string) (providers.Store, error) {
	loc, err := providers.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case "file":
		return file.New(loc.Path)
	default:
		return nil, fmt.Errorf("unknown store scheme %q in %s (supported: file)", loc.Scheme, loc)
	}
}

// checkStore reads the store once, so an unreachable one fails before etcd starts.
func checkStore(ctx context.Context, store providers.Store) error {
	if _, err := backup.ReadCatalog(ctx, store); err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	return nil
}
