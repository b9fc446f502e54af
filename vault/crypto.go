package vault

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Stored file format. Every blob is the SEIPD packet of a standard OpenPGP
// message; its key packets (PKESK) live in bbolt, so that
// PKESK... || blob is the complete message that any OpenPGP implementation
// holding one of the keys opens.
//
// formatSEIPDv2 is what levels 1–2 write: SEIPDv2, AES-256-GCM, 256 KiB
// chunks, a binary literal data packet without name or date, no
// compression. The format is recorded per file because levels 3–4 may have
// to write SEIPDv1 (MDC) instead: GnuPG (2.2 on Debian 12, and later ones)
// reads neither v6 keys nor SEIPDv2, so a file for a recipient with a
// GnuPG key, or for a pending recipient who may later bring one, has to be
// encrypted in a form that key can open; only its key packets change
// afterwards, never the blob.
const formatSEIPDv2 = "seipdv2-aes256-gcm"

// aeadChunkSize is the SEIPDv2 chunk size: large enough that the per-chunk
// overhead vanishes, small enough to bound memory while streaming.
const aeadChunkSize = 256 << 10

var fileCipherSuite = packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeGCM}

// gatewayKeyName is the file, in storage.dir, holding the gateway's secret
// OpenPGP key(s), ASCII-armoured, mode 0600.
const gatewayKeyName = "gateway-key.asc"

// gatewayKeys holds the gateway's OpenPGP keys: every key for decryption (a
// rotation adds a key and keeps the old ones while their transfers live),
// the newest one for encryption.
type gatewayKeys struct {
	ring    openpgp.EntityList
	current openpgp.Key // encryption subkey of the newest key
	keyID   string      // hex fingerprint of current, names its key packets
	public  []byte      // armoured public keys
}

// keyConfig is how gateway keys are made: a v6 key (Ed25519 primary,
// X25519 encryption subkey) that advertises AES-256 and SEIPDv2 with GCM
// first, so that anyone encrypting to it (and go-crypto itself) picks the
// fast mode.
func keyConfig() *packet.Config {
	return &packet.Config{
		Algorithm:     packet.PubKeyAlgoEd25519,
		V6Keys:        true,
		DefaultCipher: packet.CipherAES256,
		DefaultHash:   crypto.SHA256,
		AEADConfig:    &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
	}
}

// loadOrCreateGatewayKeys reads the gateway key file in dir, making a new
// key when the file does not exist yet.
func loadOrCreateGatewayKeys(dir string) (*gatewayKeys, error) {
	path := filepath.Join(dir, gatewayKeyName)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createGatewayKey(path); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("vault: gateway key: %w", err)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("vault: gateway key %s is accessible to other users (mode %#o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: gateway key: %w", err)
	}
	defer f.Close()
	ring, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("vault: reading gateway key %s: %w", path, err)
	}
	return newGatewayKeys(ring)
}

func newGatewayKeys(ring openpgp.EntityList) (*gatewayKeys, error) {
	g := &gatewayKeys{ring: ring}
	now := time.Now()
	var newest time.Time
	for _, e := range ring {
		if e.PrivateKey == nil || e.PrivateKey.Encrypted {
			return nil, errors.New("vault: gateway key file must hold unlocked secret keys")
		}
		k, ok := e.EncryptionKey(now)
		if !ok {
			continue
		}
		if g.current.PublicKey == nil || e.PrimaryKey.CreationTime.After(newest) {
			g.current, newest = k, e.PrimaryKey.CreationTime
		}
	}
	if g.current.PublicKey == nil || g.current.PrivateKey == nil {
		return nil, errors.New("vault: gateway key file holds no usable encryption key")
	}
	g.keyID = hex.EncodeToString(g.current.PublicKey.Fingerprint)

	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: exporting gateway key: %w", err)
	}
	for _, e := range ring {
		if err := e.Serialize(w); err != nil {
			return nil, fmt.Errorf("vault: exporting gateway key: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vault: exporting gateway key: %w", err)
	}
	g.public = pub.Bytes()
	return g, nil
}

// createGatewayKey makes a fresh key and writes it atomically with 0600.
func createGatewayKey(path string) error {
	e, err := openpgp.NewEntity("sealgate gateway", "", "", keyConfig())
	if err != nil {
		return fmt.Errorf("vault: generating gateway key: %w", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return fmt.Errorf("vault: encoding gateway key: %w", err)
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		return fmt.Errorf("vault: encoding gateway key: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("vault: encoding gateway key: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes data to path with mode 0600 so that path either
// does not exist or holds all of data, even after a crash.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("vault: writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("vault: writing %s: %w", path, err)
	}
	return syncDir(dir)
}

// newSessionKey returns a fresh random AES-256 session key for one file.
func newSessionKey() ([]byte, error) {
	return randomBytes(fileCipherSuite.Cipher.KeySize())
}

// wrap encrypts a session key to the gateway's current key, returning the
// PKESK (v6) packet.
func (g *gatewayKeys) wrap(sessionKey []byte) ([]byte, error) {
	var buf bytes.Buffer
	err := packet.SerializeEncryptedKeyAEAD(&buf, g.current.PublicKey, fileCipherSuite.Cipher, true, sessionKey, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: wrapping session key: %w", err)
	}
	return buf.Bytes(), nil
}

// encryptTo returns a writer that encrypts what it is given as one
// formatSEIPDv2 body into blob. Close finishes the packet (final
// authentication tag) but does not close blob.
func encryptTo(blob io.Writer, sessionKey []byte) (io.WriteCloser, error) {
	cfg := &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: fileCipherSuite.Mode, ChunkSize: aeadChunkSize}}
	seipd, err := packet.SerializeSymmetricallyEncrypted(blob, fileCipherSuite.Cipher, true, fileCipherSuite, sessionKey, cfg)
	if err != nil {
		return nil, fmt.Errorf("vault: starting encryption: %w", err)
	}
	// Closing the literal packet closes the SEIPD packet beneath it.
	lit, err := newLiteralWriter(seipd)
	if err != nil {
		return nil, fmt.Errorf("vault: starting encryption: %w", err)
	}
	return lit, nil
}

// decrypt opens keyPackets || blob as a standard OpenPGP message with the
// gateway's keys. The returned reader reports an authentication failure as
// an error, at the latest at the end of the stream.
func (g *gatewayKeys) decrypt(keyPackets []byte, blob io.Reader) (io.Reader, error) {
	md, err := openpgp.ReadMessage(io.MultiReader(bytes.NewReader(keyPackets), blob), g.ring, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: decrypting file: %w", err)
	}
	return md.UnverifiedBody, nil
}
