package vault

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// NewClerkToken makes the token of the clerk's page for one upload,
// /r/{token}, for the mail that delivers the upload (32 random bytes,
// base64url; only its SHA-256 is stored). Each call replaces the upload's
// earlier token: the mail that is finally queued carries the valid one.
// It does not count as a change of the upload (Version).
func (v *Vault) NewClerkToken(ctx context.Context, uploadID string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	h := secretHash(token)
	err = v.update(func(tx *bolt.Tx) error {
		u, ok, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		ib := tx.Bucket(bucketClerkTokens)
		if ib.Get(h) != nil {
			return fmt.Errorf("token collision") // 2^-128: a broken RNG
		}
		if len(u.ClerkTokenHash) > 0 {
			if err := deleteIndex(ib, u.ClerkTokenHash, u.ID); err != nil {
				return err
			}
			if err := markDeleted(tx); err != nil {
				return err
			}
		}
		u.ClerkTokenHash = h
		if err := putJSON(tx.Bucket(bucketUploads), []byte(u.ID), u); err != nil {
			return err
		}
		return ib.Put(h, []byte(u.ID))
	})
	if err != nil {
		return "", fmt.Errorf("vault: making clerk token: %w", err)
	}
	return token, nil
}

// UploadByClerkToken returns the upload whose clerk page token is token,
// for /r/{token}: the page lets the transfer's sender (Upload.Sender, signed
// in by code) read the message and download the files. It gives
// ErrNotFound for an unknown token, ErrExpired or ErrRevoked when the
// transfer (and with it the upload) has gone or is going. A locked
// transfer does not lock its uploads away from the clerk.
func (v *Vault) UploadByClerkToken(ctx context.Context, token string) (Upload, error) {
	if err := ctx.Err(); err != nil {
		return Upload{}, err
	}
	if !wellFormedToken(token) {
		return Upload{}, ErrNotFound
	}
	h := secretHash(token)
	var up Upload
	err := v.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketClerkTokens).Get(h)
		if id == nil {
			return ErrNotFound
		}
		u, ok, err := getUpload(tx, string(id))
		if err != nil {
			return err
		}
		if !ok || !sameHash(u.ClerkTokenHash, h) {
			return ErrNotFound
		}
		rec, ok, err := getTransfer(tx, u.TransferID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if !rec.RevokedAt.IsZero() {
			return ErrRevoked
		}
		if rec.expired(v.now()) {
			return ErrExpired
		}
		up, err = uploadView(tx, u, rec)
		return err
	})
	if err != nil {
		return Upload{}, err
	}
	return up, nil
}
