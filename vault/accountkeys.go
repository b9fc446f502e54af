package vault

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Errors of the recipient key functions.
var (
	// ErrKeyExists means SetAccountKey was given a different key than
	// the one the account holds; replacing it makes earlier level-3/4
	// files unreadable, so it takes ResetAccountKey.
	ErrKeyExists = errors.New("vault: the account already has a different key")
	// ErrNoKey means the account has no key yet (AccountKey), or the
	// recipient has no key packet for a file yet because they were
	// pending when it was stored and have set no key since (OpenMessage).
	ErrNoKey = errors.New("vault: no key set")
	// ErrUnreadable means a file was wrapped for a key that the recipient
	// has since replaced (ResetAccountKey) or lost with their account,
	// and the gateway no longer holds a key packet to re-wrap from: it
	// cannot be opened any more.
	ErrUnreadable = errors.New("vault: file was encrypted to an earlier key")
)

// SetAccountKey stores the level-3/4 key of the account of email (which
// must exist: it is made at sign-in), after checking it (see KeyUpload;
// a refused key gives an error wrapping ErrInvalidKey). The user IDs of
// the key are kept but need not name the address.
//
// Every live level-3/4 transfer that email is a pending recipient of then
// becomes readable for the key at once, in the same transaction: for each
// of its files the gateway unwraps the session key with its own key and
// adds a key packet for the new key, and once no recipient of a file is
// pending it deletes its own key packet, so that from then on it cannot
// open the file. Only key packets change, never a blob. When a gateway
// packet was deleted, the database is compacted before SetAccountKey
// returns, so that the packet is gone from the disk too.
//
// Uploading the account's current key again (same primary fingerprint)
// replaces the locked copies and the public key (a changed passphrase, a
// renewed expiry). A different key gives ErrKeyExists: see
// ResetAccountKey.
func (v *Vault) SetAccountKey(ctx context.Context, email string, u KeyUpload) error {
	return v.setAccountKey(ctx, email, u, false)
}

// ResetAccountKey replaces the account's key with a new one (a forgotten
// passphrase without the recovery code). Files wrapped for the old key
// only become unreadable: their old key packets stay (useless now) until
// the transfers go, and UnreadableFiles lists them for the clerk's status
// page. Files the gateway still holds a packet for (another recipient is
// pending) are re-wrapped for the new key as in SetAccountKey. The old
// key's locked copies are gone from the disk when ResetAccountKey
// returns (the database is compacted).
func (v *Vault) ResetAccountKey(ctx context.Context, email string, u KeyUpload) error {
	return v.setAccountKey(ctx, email, u, true)
}

func (v *Vault) setAccountKey(ctx context.Context, email string, u KeyUpload, replace bool) error {
	e, err := NormalizeEmail(email)
	if err != nil {
		return ErrNotFound
	}
	ck, err := checkKeyUpload(u, v.now())
	if err != nil {
		return err
	}
	changed, err := v.storeRecipientKey(ctx, e, ck, replace)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKeyExists) {
		return err
	}
	if err != nil {
		return fmt.Errorf("vault: setting a key: %w", err)
	}
	if changed {
		if err := v.compact(); err != nil {
			return fmt.Errorf("vault: setting a key: %w", err)
		}
	}
	return nil
}

// AccountKey returns the key of the account of email: ErrNotFound when
// there is no account, ErrNoKey when it has no key.
func (v *Vault) AccountKey(ctx context.Context, email string) (KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return KeyInfo{}, err
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return KeyInfo{}, ErrNotFound
	}
	var rec accountRecord
	err = v.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketAccounts), []byte(e), &rec)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return KeyInfo{}, err
	}
	if len(rec.PublicKey) == 0 {
		return KeyInfo{}, ErrNoKey
	}
	ent, err := readOneKey(rec.PublicKey, "stored key")
	if err != nil {
		return KeyInfo{}, fmt.Errorf("vault: account key: %w", err)
	}
	pub, err := armorPublic(rec.PublicKey)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("vault: account key: %w", err)
	}
	info := KeyInfo{
		Fingerprint:      rec.KeyFingerprint,
		KeyID:            rec.KeyID,
		Algorithm:        pubKeyAlgoName(ent.PrimaryKey) + " (v" + fmt.Sprint(ent.PrimaryKey.Version) + ")",
		Created:          ent.PrimaryKey.CreationTime.UTC(),
		SetAt:            rec.KeySetAt,
		UserIDs:          userIDs(ent),
		BYOK:             len(rec.PassphraseKey) == 0,
		PublicKey:        pub,
		PassphraseLocked: append([]byte(nil), rec.PassphraseKey...),
		RecoveryLocked:   append([]byte(nil), rec.RecoveryKey...),
	}
	for _, sk := range ent.Subkeys {
		if fmt.Sprintf("%x", sk.PublicKey.Fingerprint) == rec.KeyID {
			info.Algorithm = algorithmName(ent, sk.PublicKey)
		}
	}
	return info, nil
}
