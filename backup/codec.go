package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// Encryption holds the age keys backups are written and read with. The zero
// value writes plain backups and reads only plain ones.
type Encryption struct {
	Recipients []age.Recipient // encrypt new backups to these
	Identities []age.Identity  // decrypt backups with these
}

// Encrypts reports whether new backups are encrypted.
func (e Encryption) Encrypts() bool { return len(e.Recipients) > 0 }

// ParseRecipients reads age public keys, given one by one or in files of one
// key per line (# comments allowed).
func ParseRecipients(keys []string, files []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("encryption recipient %q: %w", k, err)
		}
		out = append(out, r)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("encryption recipients file: %w", err)
		}
		rs, err := age.ParseRecipients(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("encryption recipients file %s: %w", name, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// ParseIdentityFile reads age secret keys from a file such as age-keygen writes.
// Its errors never quote the file's content.
func ParseIdentityFile(name string) ([]age.Identity, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("encryption identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("encryption identity file %s holds no usable age identity", name)
	}
	return ids, nil
}

// encoder compresses with zstd and, when recipients are set, encrypts with age,
// counting and hashing the bytes that reach dst (the stored object).
type encoder struct {
	zw     *zstd.Encoder
	aw     io.WriteCloser // nil when not encrypting
	stored *digestWriter
}

func newEncoder(dst io.Writer, enc Encryption) (*encoder, error) {
	e := &encoder{stored: &digestWriter{w: dst, h: sha256.New()}}
	var w io.Writer = e.stored
	if enc.Encrypts() {
		aw, err := age.Encrypt(w, enc.Recipients...)
		if err != nil {
			return nil, fmt.Errorf("start encryption: %w", err)
		}
		e.aw, w = aw, aw
	}
	// Two encoder goroutines keep up with etcd's snapshot stream on a small
	// machine. The window bounds memory whatever the database size; a larger
	// one did not shrink etcd's databases further in our benchmark.
	zw, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(2),
		zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, err
	}
	e.zw = zw
	return e, nil
}

func (e *encoder) Write(p []byte) (int, error) { return e.zw.Write(p) }

// Close flushes every layer; the stored digest is final only after it.
func (e *encoder) Close() error {
	if err := e.zw.Close(); err != nil {
		return err
	}
	if e.aw != nil {
		return e.aw.Close()
	}
	return nil
}

// digestWriter passes bytes on while counting and hashing them.
type digestWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (d *digestWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	return n, err
}

func (d *digestWriter) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// ErrEncrypted is returned when a backup is encrypted and no identity was given.
var ErrEncrypted = errors.New("backup is encrypted: give the age identity with --encryption-identity-file")

// ErrCorrupt is matched by every failed integrity check of a stored object.
var ErrCorrupt = errors.New("backup object is corrupt")

// decoder reverses encoder: it reads a stored object, checks its digest
// against the manifest at EOF, decrypts and decompresses.
type decoder struct {
	zr     *zstd.Decoder
	stored *digestReader
}

func newDecoder(src io.Reader, m Manifest, enc Encryption) (*decoder, error) {
	stored := &digestReader{r: src, h: sha256.New(), want: m.SHA256, wantSize: m.Size, key: m.Data}
	var r io.Reader = stored
	switch m.Encryption {
	case "":
	case "age":
		if len(enc.Identities) == 0 {
			return nil, fmt.Errorf("%s: %w", m.Data, ErrEncrypted)
		}
		ar, err := age.Decrypt(r, enc.Identities...)
		if err != nil {
			var noMatch *age.NoIdentityMatchError
			if errors.As(err, &noMatch) {
				return nil, fmt.Errorf("%s: none of the given age identities can decrypt it (wrong --encryption-identity-file?)", m.Data)
			}
			if stored.err != nil {
				return nil, stored.err
			}
			return nil, fmt.Errorf("%s: %w: age header: %v", m.Data, ErrCorrupt, err)
		}
		r = ar
	default:
		return nil, fmt.Errorf("%s: unknown encryption %q", m.Data, m.Encryption)
	}
	if m.Compression != "zstd" {
		return nil, fmt.Errorf("%s: unknown compression %q", m.Data, m.Compression)
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return &decoder{zr: zr, stored: stored}, nil
}

func (d *decoder) Read(p []byte) (int, error) {
	n, err := d.zr.Read(p)
	if err != nil && err != io.EOF {
		if d.stored.err != nil {
			return n, d.stored.err
		}
		return n, fmt.Errorf("%s: %w: %v", d.stored.key, ErrCorrupt, err)
	}
	return n, err
}

// Close releases the decompressor. The digest was checked when the stored
// object reached EOF; Verify reports the outcome.
func (d *decoder) Close() { d.zr.Close() }

// Verify reads the stored object to its end, so a digest mismatch in bytes
// the decompressor did not need still fails.
func (d *decoder) Verify() error {
	if _, err := io.Copy(io.Discard, d.stored); err != nil {
		return err
	}
	return d.stored.err
}

// digestReader hashes what it reads and, at EOF, compares the digest and
// size with the manifest's.
type digestReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	want     string
	wantSize int64
	key      string
	err      error
}

func (d *digestReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	if err == io.EOF {
		switch got := hex.EncodeToString(d.h.Sum(nil)); {
		case d.n != d.wantSize:
			d.err = fmt.Errorf("%s: %w: %d bytes stored, manifest says %d", d.key, ErrCorrupt, d.n, d.wantSize)
		case got != d.want:
			d.err = fmt.Errorf("%s: %w: sha256 %s, manifest says %s", d.key, ErrCorrupt, got, d.want)
		}
		if d.err != nil {
			return n, d.err
		}
	}
	return n, err
}
