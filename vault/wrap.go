package vault

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	bolt "go.etcd.io/bbolt"
)

// Levels 3–4: encrypt once, wrap for many.
//
// A level-3/4 file is encrypted once under a fresh session key. The
// session key is wrapped (a PKESK key packet) for each recipient who has a
// key when the file is stored, and for the gateway's key while any
// recipient is pending (has no key yet). fileRecord.Wraps remembers whom
// each packet serves. When a pending recipient's key arrives
// (SetAccountKey), the gateway unwraps the session key with its own key,
// wraps it for the new key, and once no recipient of the file is pending
// it deletes its own packet, after which it can no longer open the file.
// Only key packets change; the blob is never touched.
//
// The format is chosen per file, before encryption (chooseFormat), and
// recorded: SEIPDv2 with AES-256-GCM only when every recipient has a key
// and every key asks for it; otherwise SEIPDv1 with AES-256. A pending
// recipient may well bring a GnuPG key later (GnuPG 2.2, and GnuPG
// generally, which did not adopt RFC 9580, reads neither SEIPDv2 nor v6
// key packets), and since re-wrapping must never re-encrypt the blob, a
// file stored while anyone is pending has to be in the form every
// implementation reads. SEIPDv1 is slower (about 0.25 GB/s per core
// against 3 GB/s) but only for files whose recipients are not all known.

// chooseFormat returns the format of a new level-3/4 file: SEIPDv2 when
// no recipient is pending and every recipient key asks for SEIPDv2 with
// AES-256-GCM (see wantsSEIPDv2), SEIPDv1 otherwise. The gateway's own key
// does not count: it reads both.
func chooseFormat(keys []recipientKey, pending int) string {
	if pending > 0 || len(keys) == 0 {
		return formatSEIPDv1
	}
	for _, k := range keys {
		if !k.aead {
			return formatSEIPDv1
		}
	}
	return formatSEIPDv2
}

// keyCache keeps parsed recipient keys by key ID for one draft, so that a
// transfer of many files to many recipients parses each key once.
type keyCache map[string]recipientKey

// accountKeyTx returns the usable current key of the normalised address
// e, or ok false when e has no account, no key, or a key that is no
// longer usable (expired or revoked): such a recipient is pending.
func accountKeyTx(tx *bolt.Tx, e string, now time.Time, cache keyCache) (recipientKey, bool, error) {
	var rec accountRecord
	ok, err := getJSON(tx.Bucket(bucketAccounts), []byte(e), &rec)
	if err != nil || !ok || len(rec.PublicKey) == 0 {
		return recipientKey{}, false, err
	}
	if k, ok := cache[rec.KeyID]; ok && rec.KeyID != "" {
		return k, true, nil
	}
	k, ok, err := parseRecipientKey(rec, now)
	if err != nil {
		// A stored key that no longer parses was checked when it was
		// stored; treat its owner as pending rather than refuse mail.
		return recipientKey{}, false, nil
	}
	if ok && cache != nil {
		cache[k.keyID] = k
	}
	return k, ok, nil
}

// planFormat looks up the recipients' keys and chooses the format of a new
// file (see chooseFormat).
func (v *Vault) planFormat(recipients []string, cache keyCache) (string, error) {
	now := v.now()
	var keys []recipientKey
	pending := 0
	err := v.view(func(tx *bolt.Tx) error {
		for _, e := range recipients {
			k, ok, err := accountKeyTx(tx, e, now, cache)
			if err != nil {
				return err
			}
			if !ok {
				pending++
				continue
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("vault: looking up recipient keys: %w", err)
	}
	return chooseFormat(keys, pending), nil
}

// wrapNew makes the key packets of a new level-3/4 file inside the
// transaction that records it, from the accounts as they are at that
// moment: a key that arrived while the file was being encrypted is used at
// once (SetAccountKey's re-wrap ran before this file was recorded and did
// not see it). It returns the file's Wraps and its packets by key ID,
// including the gateway's current key's when anyone is pending.
func wrapNew(tx *bolt.Tx, now time.Time, gw *gatewayKeys, recipients []string, format string, sk []byte, cache keyCache) (map[string]string, map[string][]byte, error) {
	wraps := make(map[string]string, len(recipients))
	packets := make(map[string][]byte)
	pending := false
	for _, e := range recipients {
		k, ok, err := accountKeyTx(tx, e, now, cache)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			wraps[e] = ""
			pending = true
			continue
		}
		if _, done := packets[k.keyID]; !done {
			p, err := wrapKey(k.pub, sk, format)
			if err != nil {
				return nil, nil, fmt.Errorf("wrapping for a recipient key: %w", err)
			}
			packets[k.keyID] = p
		}
		wraps[e] = k.keyID
	}
	if pending {
		p, err := gw.wrap(sk, format)
		if err != nil {
			return nil, nil, err
		}
		packets[gw.keyID] = p
	}
	return wraps, packets, nil
}

// fileWraps returns a level-3/4 file's Wraps, or for a record written
// before Wraps existed, every recipient as pending.
func fileWraps(f fileRecord, rec transferRecord) map[string]string {
	if f.Wraps != nil {
		return maps.Clone(f.Wraps)
	}
	w := make(map[string]string)
	for _, e := range normalizeRecipients(rec.Recipients) {
		w[e] = ""
	}
	return w
}

func anyPending(wraps map[string]string) bool {
	for _, k := range wraps {
		if k == "" {
			return true
		}
	}
	return false
}

// pendingOf lists the pending recipients in wraps, sorted.
func pendingOf(wraps map[string]string) []string {
	var out []string
	for e, k := range wraps {
		if k == "" {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// private returns the secret key that a gateway key packet named keyID
// was made for, or nil.
func (g *gatewayKeys) private(keyID string) *packet.PrivateKey {
	e, ok := g.byID[keyID]
	if !ok {
		return nil
	}
	for _, sk := range e.Subkeys {
		if hex.EncodeToString(sk.PublicKey.Fingerprint) == keyID {
			return sk.PrivateKey
		}
	}
	if hex.EncodeToString(e.PrimaryKey.Fingerprint) == keyID {
		return e.PrivateKey
	}
	return nil
}

// gatewayPackets returns the key packets among ps made for a gateway key.
func (g *gatewayKeys) gatewayPackets(ps []keyPacket) []keyPacket {
	var out []keyPacket
	for _, kp := range ps {
		if g.has(kp.keyID) {
			out = append(out, kp)
		}
	}
	return out
}

// e2eTransfersOf returns the level-3/4 transfers whose links still work
// and that have e among their recipients.
func (v *Vault) e2eTransfersOf(tx *bolt.Tx, e string, liveOnly bool) ([]transferRecord, error) {
	var out []transferRecord
	err := tx.Bucket(bucketTransfers).ForEach(func(k, data []byte) error {
		var rec transferRecord
		if err := decodeJSON(k, data, &rec); err != nil {
			return err
		}
		if rec.Level < 3 || !slices.Contains(normalizeRecipients(rec.Recipients), e) {
			return nil
		}
		if liveOnly && (!rec.RevokedAt.IsZero() || rec.expired(v.now())) {
			return nil
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// rewrapFor gives the recipient e, whose current key is k, a key packet
// for every file of a live level-3/4 transfer that serves e through the
// gateway's packet (e was pending, or replaced their key while another
// recipient was still pending), and then deletes the gateway's packets of
// every such file that no recipient is pending for any more. Files whose
// gateway packet is already gone keep what they have: they stay
// unreadable for a replaced key (see UnreadableFiles). It returns how many
// files it re-wrapped and how many gateway packets it deleted.
//
// It runs inside the transaction that stores the key, so a file recorded
// later sees the key (wrapNew) and one recorded earlier is seen here.
func (v *Vault) rewrapFor(tx *bolt.Tx, e string, k recipientKey) (rewrapped, dropped int, err error) {
	gw := v.keys.Load()
	transfers, err := v.e2eTransfersOf(tx, e, true)
	if err != nil {
		return 0, 0, err
	}
	kb := tx.Bucket(bucketKeyPackets)
	for _, rec := range transfers {
		files, err := transferFiles(tx, rec.ID)
		if err != nil {
			return 0, 0, err
		}
		for _, f := range files {
			if f.BlobID == "" {
				continue
			}
			wraps := fileWraps(f, rec)
			cur, listed := wraps[e]
			if !listed || cur == k.keyID {
				continue
			}
			gws := gw.gatewayPackets(fileKeyPackets(tx, rec.ID, f.ID))
			if len(gws) == 0 {
				continue // the gateway can no longer open it
			}
			if err := rewrapOne(kb, gw, gws[0], rec.ID, f, k); err != nil {
				return 0, 0, fmt.Errorf("re-wrapping %s/%s: %w", rec.ID, f.ID, err)
			}
			rewrapped++
			wraps[e] = k.keyID
			if !anyPending(wraps) {
				for _, kp := range gws {
					if err := kb.Delete(keyPacketKey(rec.ID, f.ID, kp.keyID)); err != nil {
						return 0, 0, err
					}
					dropped++
				}
			}
			f.Wraps = wraps
			if err := putJSON(tx.Bucket(bucketFiles), fileKey(rec.ID, f.ID), f); err != nil {
				return 0, 0, err
			}
		}
	}
	if dropped > 0 {
		if err := markDeleted(tx); err != nil {
			return 0, 0, err
		}
	}
	return rewrapped, dropped, nil
}

// rewrapOne unwraps a file's session key with the gateway packet gp and
// stores a packet for k.
func rewrapOne(kb *bolt.Bucket, gw *gatewayKeys, gp keyPacket, transferID string, f fileRecord, k recipientKey) error {
	priv := gw.private(gp.keyID)
	if priv == nil {
		return fmt.Errorf("no secret key for gateway key packet %s", gp.keyID)
	}
	sk, err := unwrapKey(gp.packet, priv)
	if err != nil {
		return err
	}
	defer clear(sk)
	p, err := wrapKey(k.pub, sk, f.Format)
	if err != nil {
		return err
	}
	return kb.Put(keyPacketKey(transferID, f.ID, k.keyID), p)
}

// dropRecipient removes what serves the recipient e in level-3/4 files
// when their account (and so their key) is deleted: their key packets go
// (unless another recipient's packet is the same key's). Where the
// gateway still holds a packet, e is pending again, so that a key they
// set later is wrapped for; elsewhere the file stays unreadable for them.
// It reports whether it deleted anything.
func (v *Vault) dropRecipient(tx *bolt.Tx, e string) (bool, error) {
	gw := v.keys.Load()
	transfers, err := v.e2eTransfersOf(tx, e, false)
	if err != nil {
		return false, err
	}
	kb := tx.Bucket(bucketKeyPackets)
	deleted := false
	for _, rec := range transfers {
		files, err := transferFiles(tx, rec.ID)
		if err != nil {
			return false, err
		}
		for _, f := range files {
			if f.Wraps == nil || f.Wraps[e] == "" {
				continue
			}
			wraps := maps.Clone(f.Wraps)
			kid := wraps[e]
			shared := false
			for other, ok := range wraps {
				if other != e && ok == kid {
					shared = true
				}
			}
			if !shared && kb.Get(keyPacketKey(rec.ID, f.ID, kid)) != nil {
				if err := kb.Delete(keyPacketKey(rec.ID, f.ID, kid)); err != nil {
					return false, err
				}
				deleted = true
			}
			if len(gw.gatewayPackets(fileKeyPackets(tx, rec.ID, f.ID))) > 0 {
				wraps[e] = ""
			}
			f.Wraps = wraps
			if err := putJSON(tx.Bucket(bucketFiles), fileKey(rec.ID, f.ID), f); err != nil {
				return false, err
			}
		}
	}
	return deleted, nil
}

// storeRecipientKey stores a checked key for the account e and re-wraps
// for it; it is the common part of SetAccountKey and ResetAccountKey.
// With replace false an account that already holds a different key is
// refused with ErrKeyExists. It reports whether anything was replaced or
// deleted (so the caller compacts the database).
func (v *Vault) storeRecipientKey(ctx context.Context, e string, ck checkedKey, replace bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := v.now()
	at, _ := keyTime(ck.entity, now)
	enc, ok := ck.entity.EncryptionKey(at)
	if !ok {
		return false, invalidKey("the key has no valid encryption key")
	}
	k := recipientKey{keyID: ck.keyID, pub: enc.PublicKey, aead: wantsSEIPDv2(ck.entity)}
	changed := false
	err := v.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		var rec accountRecord
		ok, err := getJSON(b, []byte(e), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if len(rec.PublicKey) > 0 {
			if rec.KeyFingerprint != ck.fingerprint && !replace {
				return ErrKeyExists
			}
			// Same key with new locked copies (a passphrase change), a
			// refreshed public key, or a replaced key: the old bytes are
			// in freed pages until the database is compacted.
			changed = !bytes.Equal(rec.PublicKey, ck.binary) || !bytes.Equal(rec.PassphraseKey, ck.passphrase) || !bytes.Equal(rec.RecoveryKey, ck.recovery)
			if changed {
				if err := markDeleted(tx); err != nil {
					return err
				}
			}
		}
		if rec.KeyFingerprint != ck.fingerprint || rec.KeySetAt.IsZero() {
			rec.KeySetAt = now
		}
		rec.PublicKey, rec.PassphraseKey, rec.RecoveryKey = ck.binary, ck.passphrase, ck.recovery
		rec.KeyFingerprint, rec.KeyID = ck.fingerprint, ck.keyID
		if err := putJSON(b, []byte(e), rec); err != nil {
			return err
		}
		_, dropped, err := v.rewrapFor(tx, e, k)
		if dropped > 0 {
			changed = true
		}
		return err
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}
