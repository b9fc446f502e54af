package vault

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// receiptKeyName is the file, in storage.dir, holding the receipt signing
// key, ASCII-armoured, mode 0600.
const receiptKeyName = "receipt-key.asc"

// maxReceiptSize bounds what SignReceipt and VerifyReceipt accept: receipts
// are a few lines.
const maxReceiptSize = 64 << 10

// receiptKey signs receipts. It is a separate key from the gateway's
// encryption key because receipts must verify with GnuPG 2.2 (Debian 12),
// which reads no v6 key: so it is a v4 key with an EdDSA (Ed25519, "legacy"
// encoding) primary key, the kind GnuPG has made by default for years.
type receiptKey struct {
	entity *openpgp.Entity
	public []byte // armoured public key
}

// receiptKeyConfig is how the receipt key is made and how it signs.
func receiptKeyConfig(clock func() time.Time) *packet.Config {
	return &packet.Config{
		Algorithm:   packet.PubKeyAlgoEdDSA,
		V6Keys:      false,
		DefaultHash: crypto.SHA512,
		Time:        clock,
	}
}

// loadOrCreateReceiptKey reads storage.dir/receipt-key.asc, making the key
// at first start.
func loadOrCreateReceiptKey(dir string, clock func() time.Time) (*receiptKey, error) {
	path := filepath.Join(dir, receiptKeyName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		e, err := openpgp.NewEntity("sealgate receipts", "", "", receiptKeyConfig(clock))
		if err != nil {
			return nil, fmt.Errorf("vault: generating receipt key: %w", err)
		}
		if err := writeSecretKeys(path, openpgp.EntityList{e}); err != nil {
			return nil, err
		}
	}
	ring, err := readSecretKeys(path)
	if err != nil {
		return nil, err
	}
	if len(ring) != 1 {
		return nil, fmt.Errorf("vault: %s holds %d keys, want one", path, len(ring))
	}
	e := ring[0]
	if e.PrimaryKey.Version != 4 {
		return nil, fmt.Errorf("vault: %s holds a v%d key; receipts need a v4 key for GnuPG", path, e.PrimaryKey.Version)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: exporting receipt key: %w", err)
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("vault: exporting receipt key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("vault: exporting receipt key: %w", err)
	}
	return &receiptKey{entity: e, public: pub.Bytes()}, nil
}

// ReceiptPublicKey returns the receipt signing key's public key,
// ASCII-armoured, as served at /.well-known/sealgate/receipt-key.asc.
func (v *Vault) ReceiptPublicKey() []byte {
	return bytes.Clone(v.receipt.public)
}

// canonicalReceipt puts text in the form that is signed: LF line ends, no
// white space at line ends (clear-signing ignores it, so a signed receipt
// must not carry any that a changed byte could hide in), no trailing empty
// lines. Control characters other than tab and line ends are refused.
func canonicalReceipt(text string) (string, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		for _, r := range l {
			if (r < 0x20 && r != '\t') || r == 0x7f || r == '\r' {
				return "", errors.New("vault: receipt text holds control characters")
			}
		}
		lines[i] = l
	}
	text = strings.TrimRight(strings.Join(lines, "\n"), "\n")
	if text == "" {
		return "", errors.New("vault: empty receipt")
	}
	return text, nil
}

// SignReceipt returns text as an OpenPGP clear-signed message (RFC 9580
// section 7) signed with the receipt key at the vault's current time.
// White space at line ends is removed first (see canonicalReceipt);
// VerifyReceipt gives back the text as signed.
func (v *Vault) SignReceipt(ctx context.Context, text string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(text) > maxReceiptSize {
		return "", errors.New("vault: receipt text too long")
	}
	text, err := canonicalReceipt(text)
	if err != nil {
		return "", err
	}
	cfg := receiptKeyConfig(v.clock)
	k, ok := v.receipt.entity.SigningKey(cfg.Now())
	if !ok {
		return "", errors.New("vault: receipt key cannot sign")
	}
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, k.PrivateKey, cfg)
	if err != nil {
		return "", fmt.Errorf("vault: signing receipt: %w", err)
	}
	// No final line end: clearsign adds the one before the signature, and
	// another would become an empty last line of the signed text.
	if _, err := w.Write([]byte(text)); err != nil {
		return "", fmt.Errorf("vault: signing receipt: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("vault: signing receipt: %w", err)
	}
	// go-crypto armours the signature without the CRC-24 line, as RFC
	// 9580 suggests, but GnuPG 2.2 then reads the END line as data and
	// fails; so the message is written again with the checksum.
	block, _ := clearsign.Decode(out.Bytes())
	if block == nil {
		return "", errors.New("vault: signing receipt: cannot read back the signed message")
	}
	sig, err := readAll(block.ArmoredSignature)
	if err != nil {
		return "", fmt.Errorf("vault: signing receipt: %w", err)
	}
	signed, err := formatClearsigned(string(block.Plaintext), block.Headers.Values("Hash"), sig)
	if err != nil {
		return "", fmt.Errorf("vault: signing receipt: %w", err)
	}
	return string(signed), nil
}

// VerifyReceipt checks a clear-signed receipt against the receipt key and
// returns its text. See VerifyReceiptWithKey.
func (v *Vault) VerifyReceipt(ctx context.Context, clearsigned []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return verifyReceipt(v.receiptRing(), clearsigned, v.clock)
}

// VerifyReceiptWithKey checks a clear-signed receipt against an armoured
// public key (the one ReceiptPublicKey returns), without a vault: for
// checking a receipt where the database is not at hand.
//
// The receipt must be exactly as SignReceipt wrote it, apart from CRLF line
// ends and white space around the whole: any other changed byte is refused
// with ErrBadReceipt, including those that a plain signature check lets
// pass (white space at line ends, an armour header, a different line
// wrapping of the signature).
func VerifyReceiptWithKey(armoredPublicKey, clearsigned []byte) (string, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredPublicKey))
	if err != nil {
		return "", fmt.Errorf("vault: reading receipt key: %w", err)
	}
	return verifyReceipt(ring, clearsigned, time.Now)
}

func verifyReceipt(ring openpgp.EntityList, data []byte, clock func() time.Time) (string, error) {
	if len(data) > maxReceiptSize {
		return "", ErrBadReceipt
	}
	norm := bytes.TrimSpace(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	block, rest := clearsign.Decode(norm)
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		return "", ErrBadReceipt
	}
	sig, err := readAll(block.ArmoredSignature)
	if err != nil {
		return "", ErrBadReceipt
	}
	cfg := &packet.Config{Time: clock}
	if _, _, err := openpgp.VerifyDetachedSignature(ring, bytes.NewReader(block.Bytes), bytes.NewReader(sig), cfg); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	// The signature holds; now make sure nothing outside what it covers
	// was changed either, by writing the receipt again from its parts.
	text := string(block.Plaintext)
	again, err := formatClearsigned(text, block.Headers.Values("Hash"), sig)
	if err != nil || !bytes.Equal(bytes.TrimSpace(again), norm) {
		return "", ErrBadReceipt
	}
	return text, nil
}

func readAll(b *armor.Block) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(b.Body)
	return buf.Bytes(), err
}

// formatClearsigned writes a clear-signed message: header, Hash line(s),
// the dash-escaped text, and the signature armoured with a CRC-24 checksum
// and no armour headers, ending with a line end.
func formatClearsigned(text string, hashes []string, sig []byte) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("-----BEGIN PGP SIGNED MESSAGE-----\n")
	if len(hashes) > 0 {
		b.WriteString("Hash: " + strings.Join(hashes, ",") + "\n")
	}
	b.WriteString("\n")
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "-") {
			b.WriteString("- ")
		}
		b.WriteString(l + "\n")
	}
	w, err := armor.EncodeWithChecksumOption(&b, "PGP SIGNATURE", nil, true)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(sig); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func (v *Vault) receiptRing() openpgp.EntityList { return openpgp.EntityList{v.receipt.entity} }
