package vault

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	bolt "go.etcd.io/bbolt"
)

// gatewayKeyName is the file, in storage.dir, holding the gateway's current
// secret OpenPGP key, ASCII-armoured, mode 0600.
const gatewayKeyName = "gateway-key.asc"

// retiredKeyDir is the directory, in storage.dir, of retired gateway keys:
// one file "<key ID>.asc" per key, mode 0600.
const retiredKeyDir = "keys"

// gatewayKeys holds the gateway's OpenPGP keys: every key for decryption (a
// rotation adds a key and keeps the old ones while their transfers live),
// the current one for encryption. A gatewayKeys is never changed once
// published in Vault.keys; rotation and purge publish a new one.
type gatewayKeys struct {
	ring    openpgp.EntityList
	current openpgp.Key // encryption subkey of the current key
	keyID   string      // hex fingerprint of current, names its key packets
	public  []byte      // armoured public keys

	// currentFile is what gateway-key.asc holds (normally one key).
	currentFile openpgp.EntityList
	// byID maps the key ID of each key's encryption subkey (what key
	// packets are named by) to the key.
	byID map[string]*openpgp.Entity
	// retired maps the key IDs of retired keys to their files in keys/.
	retired map[string]string
}

// has reports whether keyID names one of these keys.
func (g *gatewayKeys) has(keyID string) bool {
	_, ok := g.byID[keyID]
	return ok
}

// keyConfig is how gateway keys are made: a v6 key (Ed25519 primary,
// X25519 encryption subkey) that advertises AES-256 and SEIPDv2 with GCM
// first, so that anyone encrypting to it (and go-crypto itself) picks the
// fast mode.
func keyConfig(clock func() time.Time) *packet.Config {
	return &packet.Config{
		Algorithm:     packet.PubKeyAlgoEd25519,
		V6Keys:        true,
		DefaultCipher: packet.CipherAES256,
		DefaultHash:   crypto.SHA256,
		AEADConfig:    &packet.AEADConfig{DefaultMode: packet.AEADModeGCM},
		Time:          clock,
	}
}

// loadOrCreateGatewayKeys reads the gateway key file and the retired keys
// in dir, making a new key when there is none yet.
func loadOrCreateGatewayKeys(dir string, clock func() time.Time) (*gatewayKeys, error) {
	path := filepath.Join(dir, gatewayKeyName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		e, err := openpgp.NewEntity("sealgate gateway", "", "", keyConfig(clock))
		if err != nil {
			return nil, fmt.Errorf("vault: generating gateway key: %w", err)
		}
		if err := writeSecretKeys(path, openpgp.EntityList{e}); err != nil {
			return nil, err
		}
	}
	current, err := readSecretKeys(path)
	if err != nil {
		return nil, err
	}
	keyDir := filepath.Join(dir, retiredKeyDir)
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return nil, fmt.Errorf("vault: creating key directory: %w", err)
	}
	entries, err := os.ReadDir(keyDir)
	if err != nil {
		return nil, fmt.Errorf("vault: reading key directory: %w", err)
	}
	retired := make(map[string]*openpgp.Entity)
	for _, ent := range entries {
		name := ent.Name()
		p := filepath.Join(keyDir, name)
		if strings.HasPrefix(name, ".tmp-") {
			// An interrupted writeFileAtomic; the key is still in
			// gateway-key.asc or in a complete file.
			if err := wipeAndRemove(p); err != nil {
				return nil, err
			}
			continue
		}
		if !strings.HasSuffix(name, ".asc") {
			continue
		}
		keys, err := readSecretKeys(p)
		if err != nil {
			return nil, err
		}
		if len(keys) != 1 {
			return nil, fmt.Errorf("vault: key file %s holds %d keys, want one", p, len(keys))
		}
		retired[p] = keys[0]
	}
	return newGatewayKeys(current, retired, clock())
}

// newGatewayKeys combines the keys of gateway-key.asc (the newest of which
// is current) and the retired keys (file -> key).
func newGatewayKeys(currentFile openpgp.EntityList, retired map[string]*openpgp.Entity, now time.Time) (*gatewayKeys, error) {
	g := &gatewayKeys{
		currentFile: currentFile,
		byID:        make(map[string]*openpgp.Entity),
		retired:     make(map[string]string),
	}
	var newest time.Time
	for _, e := range currentFile {
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

	add := func(e *openpgp.Entity) (string, bool) {
		k, ok := e.EncryptionKey(now)
		if !ok {
			return "", false
		}
		id := hex.EncodeToString(k.PublicKey.Fingerprint)
		if _, dup := g.byID[id]; !dup {
			g.byID[id] = e
			g.ring = append(g.ring, e)
		}
		return id, true
	}
	for _, e := range currentFile {
		add(e)
	}
	// Sorted, so that the exported key block is the same on every start.
	paths := make([]string, 0, len(retired))
	for p := range retired {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if id, ok := add(retired[p]); ok && id != g.keyID {
			g.retired[id] = p
		}
	}

	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, fmt.Errorf("vault: exporting gateway key: %w", err)
	}
	for _, e := range g.ring {
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

// without returns a copy of g without the retired keys in drop.
func (g *gatewayKeys) without(drop []string, now time.Time) (*gatewayKeys, error) {
	retired := make(map[string]*openpgp.Entity)
	for id, p := range g.retired {
		if !slices.Contains(drop, id) {
			retired[p] = g.byID[id]
		}
	}
	return newGatewayKeys(g.currentFile, retired, now)
}

// readSecretKeys reads an armoured file of unlocked secret keys, refusing it
// when other users may read it.
func readSecretKeys(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("vault: key file %s is accessible to other users (mode %#o); run chmod 600 on it", path, fi.Mode().Perm())
	}
	ring, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("vault: reading key file %s: %w", path, err)
	}
	for _, e := range ring {
		if e.PrivateKey == nil || e.PrivateKey.Encrypted {
			return nil, fmt.Errorf("vault: key file %s must hold unlocked secret keys", path)
		}
	}
	return ring, nil
}

// writeSecretKeys writes keys, armoured, atomically with mode 0600.
func writeSecretKeys(path string, keys openpgp.EntityList) error {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return fmt.Errorf("vault: encoding key: %w", err)
	}
	for _, e := range keys {
		if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
			return fmt.Errorf("vault: encoding key: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("vault: encoding key: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// RotateGatewayKey makes a new gateway key, which encrypts every file stored
// from now on, and returns its key ID (the hex fingerprint of its
// encryption subkey, which names its key packets). The previous key moves to
// storage.dir/keys/ and keeps opening the files wrapped for it; Purge
// deletes it once no key packet names it any more.
//
// The old key is written to keys/ before the new one replaces
// gateway-key.asc, so a crash in between loses no key.
func (v *Vault) RotateGatewayKey(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	v.keyMu.Lock()
	defer v.keyMu.Unlock()
	old := v.keys.Load()
	e, err := openpgp.NewEntity("sealgate gateway", "", "", keyConfig(v.clock))
	if err != nil {
		return "", fmt.Errorf("vault: generating gateway key: %w", err)
	}
	retired := make(map[string]*openpgp.Entity)
	for id, p := range old.retired {
		retired[p] = old.byID[id]
	}
	now := v.clock()
	for _, ce := range old.currentFile {
		k, ok := ce.EncryptionKey(now)
		if !ok {
			continue
		}
		p := filepath.Join(v.dir, retiredKeyDir, hex.EncodeToString(k.PublicKey.Fingerprint)+".asc")
		if err := writeSecretKeys(p, openpgp.EntityList{ce}); err != nil {
			return "", fmt.Errorf("vault: retiring gateway key: %w", err)
		}
		retired[p] = ce
	}
	if err := writeSecretKeys(filepath.Join(v.dir, gatewayKeyName), openpgp.EntityList{e}); err != nil {
		return "", err
	}
	g, err := newGatewayKeys(openpgp.EntityList{e}, retired, now)
	if err != nil {
		return "", err
	}
	v.keys.Store(g)
	return g.keyID, nil
}

// referencedKeyIDs returns the key IDs that some key packet names, leaving
// out the packets of the transfers in gone (a dry run's purged transfers).
func referencedKeyIDs(tx *bolt.Tx, gone map[string]bool) map[string]struct{} {
	refs := make(map[string]struct{})
	c := tx.Bucket(bucketKeyPackets).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if t := bytes.IndexByte(k, '/'); t >= 0 && gone[string(k[:t])] {
			continue
		}
		if i := bytes.LastIndexByte(k, '/'); i >= 0 {
			refs[string(k[i+1:])] = struct{}{}
		}
	}
	return refs
}

// purgeRetiredKeys deletes the retired gateway keys that no key packet names
// and no AddFile in flight is wrapping for, and returns their IDs. With
// dryRun it only reports them, counting the transfers in gone as deleted.
//
// The check and the removal from the key ring happen inside one write
// transaction: AddFile checks in its own write transaction that its key is
// still in the ring before it records a key packet, and bbolt runs write
// transactions one at a time, so a key packet is never recorded for a key
// that is being deleted.
func (v *Vault) purgeRetiredKeys(ctx context.Context, dryRun bool, gone []string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.keyMu.Lock()
	defer v.keyMu.Unlock()
	goneSet := make(map[string]bool, len(gone))
	for _, id := range gone {
		goneSet[id] = true
	}
	var drop, files []string
	find := func(tx *bolt.Tx) error {
		g := v.keys.Load()
		refs := referencedKeyIDs(tx, goneSet)
		_, busy := v.inflightSnapshot()
		for id, p := range g.retired {
			_, used := refs[id]
			_, writing := busy[id]
			if !used && !writing {
				drop = append(drop, id)
				files = append(files, p)
			}
		}
		if dryRun || len(drop) == 0 {
			return nil
		}
		ng, err := g.without(drop, v.clock())
		if err != nil {
			return err
		}
		v.keys.Store(ng)
		return nil
	}
	var err error
	if dryRun {
		err = v.view(find)
	} else {
		err = v.update(find)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: purging retired keys: %w", err)
	}
	slices.Sort(drop)
	if dryRun {
		return drop, nil
	}
	var errs []error
	for _, p := range files {
		errs = append(errs, wipeAndRemove(p))
	}
	return drop, errors.Join(errs...)
}
