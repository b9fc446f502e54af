package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
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

// formatSEIPDv1 is SEIPDv1 (with MDC) and AES-256, under v3 key packets:
// what every OpenPGP implementation reads, GnuPG 2.2 included. Levels 3–4
// write it unless every recipient's key is known and asks for SEIPDv2
// (see chooseFormat).
const formatSEIPDv1 = "seipdv1-aes256"

// aeadChunkSize is the SEIPDv2 chunk size: large enough that the per-chunk
// overhead vanishes, small enough to bound memory while streaming.
const aeadChunkSize = 256 << 10

var fileCipherSuite = packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeGCM}

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
// PKESK packet for a file of the given format.
func (g *gatewayKeys) wrap(sessionKey []byte, format string) ([]byte, error) {
	return wrapKey(g.current.PublicKey, sessionKey, format)
}

// wrapKey encrypts a session key to pub, returning the PKESK packet for a
// file of the given format: v6 for SEIPDv2, v3 for SEIPDv1, because a
// PKESK's version must match the encrypted data's (RFC 9580 section 5.1).
func wrapKey(pub *packet.PublicKey, sessionKey []byte, format string) ([]byte, error) {
	var buf bytes.Buffer
	err := packet.SerializeEncryptedKeyAEAD(&buf, pub, fileCipherSuite.Cipher, format == formatSEIPDv2, sessionKey, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: wrapping session key: %w", err)
	}
	return buf.Bytes(), nil
}

// unwrapKey decrypts a PKESK packet with priv and returns the session key.
func unwrapKey(pkesk []byte, priv *packet.PrivateKey) ([]byte, error) {
	p, err := packet.Read(bytes.NewReader(pkesk))
	if err != nil {
		return nil, fmt.Errorf("vault: reading key packet: %w", err)
	}
	ek, ok := p.(*packet.EncryptedKey)
	if !ok {
		return nil, fmt.Errorf("vault: stored key packet is a %T", p)
	}
	if err := ek.Decrypt(priv, nil); err != nil {
		return nil, fmt.Errorf("vault: unwrapping session key: %w", err)
	}
	if len(ek.Key) != fileCipherSuite.Cipher.KeySize() {
		return nil, fmt.Errorf("vault: unwrapped session key has %d bytes", len(ek.Key))
	}
	return ek.Key, nil
}

// encryptTo returns a writer that encrypts what it is given as one body
// of the given format into blob. Close finishes the packet (final
// authentication tag or MDC) but does not close blob.
func encryptTo(blob io.Writer, sessionKey []byte, format string) (io.WriteCloser, error) {
	var (
		seipd io.WriteCloser
		err   error
	)
	switch format {
	case formatSEIPDv2:
		cfg := &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: fileCipherSuite.Mode, ChunkSize: aeadChunkSize}}
		seipd, err = packet.SerializeSymmetricallyEncrypted(blob, fileCipherSuite.Cipher, true, fileCipherSuite, sessionKey, cfg)
	case formatSEIPDv1:
		seipd, err = packet.SerializeSymmetricallyEncrypted(blob, fileCipherSuite.Cipher, false, packet.CipherSuite{}, sessionKey, nil)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
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

// decrypt opens keyPacket || blob as a standard OpenPGP message with the
// gateway key e. The returned reader reports an authentication failure as an
// error, at the latest at the end of the stream.
func decrypt(e *openpgp.Entity, keyPacket []byte, blob io.Reader) (io.Reader, error) {
	md, err := openpgp.ReadMessage(io.MultiReader(bytes.NewReader(keyPacket), blob), openpgp.EntityList{e}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: decrypting file: %w", err)
	}
	return md.UnverifiedBody, nil
}
