package vault

import (
	"context"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Transfer states as admins see them (TransferInfo.State).
const (
	StateDraft     = "draft"     // Commit never ran (see Draft)
	StateCommitted = "committed" // sent and live
	StateRevoked   = "revoked"   // withdrawn by the clerk or the admin
	StateExpired   = "expired"   // past its retention, not yet purged
	StateLocked    = "locked"    // locked after too many wrong codes
)

// TransferInfo is the admin's view of a transfer (`sealgate transfers
// list|show`). It holds everything but secrets: no token, code or key.
type TransferInfo struct {
	// Transfer lists every file, including withdrawn ones.
	Transfer
	// State is one of the State constants; revoked wins over expired,
	// expired over locked.
	State string
	// FailedCodes counts wrong sign-in codes since the last unlock.
	FailedCodes int
	// FileKeys maps each file ID to the keys whose key packets can open
	// it; empty for a withdrawn file.
	FileKeys map[string][]KeyRef
	// FileFormats maps each file ID to its stored format:
	// "seipdv2-aes256-gcm" or (levels 3–4, see wrap.go) "seipdv1-aes256".
	FileFormats map[string]string
	// Unreadable lists the files that recipients can no longer open
	// (see UnreadableFiles).
	Unreadable []UnreadableFile
	// Downloads are the transfer's download records.
	Downloads []Download
}

// KeyRef names a key that can open a file.
type KeyRef struct {
	// ID is the key ID the key packet is stored under: the hex
	// fingerprint of the (sub)key it is encrypted to.
	ID string
	// Gateway is true for one of the gateway's keys (the label
	// "gateway"); false for a recipient's own key.
	Gateway bool
	// Current is true for the gateway's current key, false for a retired
	// one (and for recipients' keys).
	Current bool
	// Recipients are, for a recipient's key, the addresses whose key it
	// is (normally one).
	Recipients []string
	// Pending are, for the gateway's key packet on a level-3/4 file, the
	// recipients it is held for: they have no key yet, and the packet is
	// deleted once they all have one. Empty at levels 1–2, where the
	// gateway's packet is how the server serves the file.
	Pending []string
}

// TransferFilter selects transfers for ListTransfers; zero fields match
// everything.
type TransferFilter struct {
	Sender    string // the sender's address, case-insensitive
	Recipient string // one of the recipients' addresses, case-insensitive
	State     string // one of the State constants
}

// TransferByID returns the admin's view of one transfer by its reference
// (case and surrounding space ignored), whatever its state, or ErrNotFound.
func (v *Vault) TransferByID(ctx context.Context, id string) (TransferInfo, error) {
	if err := ctx.Err(); err != nil {
		return TransferInfo{}, err
	}
	id = normalizeTransferID(id)
	var info TransferInfo
	err := v.view(func(tx *bolt.Tx) error {
		rec, ok, err := getTransfer(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		info, err = v.transferInfo(tx, rec)
		return err
	})
	if err != nil {
		return TransferInfo{}, err
	}
	return info, nil
}

// ListTransfers returns the transfers that match f, oldest first (then by
// reference).
func (v *Vault) ListTransfers(ctx context.Context, f TransferFilter) ([]TransferInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sender := strings.ToLower(strings.TrimSpace(f.Sender))
	recipient := strings.ToLower(strings.TrimSpace(f.Recipient))
	var out []TransferInfo
	err := v.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTransfers).ForEach(func(k, data []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var rec transferRecord
			if err := decodeJSON(k, data, &rec); err != nil {
				return err
			}
			if sender != "" && strings.ToLower(rec.Sender) != sender {
				return nil
			}
			info, err := v.transferInfo(tx, rec)
			if err != nil {
				return err
			}
			if recipient != "" && !IsRecipient(info.Transfer, recipient) {
				return nil
			}
			if f.State != "" && info.State != f.State {
				return nil
			}
			out = append(out, info)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: listing transfers: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (v *Vault) transferInfo(tx *bolt.Tx, rec transferRecord) (TransferInfo, error) {
	files, err := transferFiles(tx, rec.ID)
	if err != nil {
		return TransferInfo{}, err
	}
	downloads, err := transferDownloads(tx, rec.ID)
	if err != nil {
		return TransferInfo{}, err
	}
	info := TransferInfo{
		Transfer:    rec.transfer(files, true),
		FailedCodes: rec.FailedCodes,
		FileKeys:    make(map[string][]KeyRef),
		FileFormats: make(map[string]string),
		Downloads:   downloads,
	}
	switch {
	case !rec.RevokedAt.IsZero():
		info.State = StateRevoked
	case rec.expired(v.now()):
		info.State = StateExpired
	case !rec.LockedAt.IsZero():
		info.State = StateLocked
	case rec.State == stateCommitted:
		info.State = StateCommitted
	default:
		info.State = StateDraft
	}
	keys := v.keys.Load()
	for _, f := range files {
		info.FileFormats[f.ID] = f.Format
		var wraps map[string]string
		if rec.Level >= 3 {
			wraps = fileWraps(f, rec)
		}
		for _, kp := range fileKeyPackets(tx, rec.ID, f.ID) {
			ref := KeyRef{
				ID:      kp.keyID,
				Gateway: keys.has(kp.keyID),
				Current: kp.keyID == keys.keyID,
			}
			if ref.Gateway {
				ref.Pending = pendingOf(wraps)
			} else {
				for _, e := range sortedKeys(wraps) {
					if wraps[e] == kp.keyID {
						ref.Recipients = append(ref.Recipients, e)
					}
				}
			}
			info.FileKeys[f.ID] = append(info.FileKeys[f.ID], ref)
		}
	}
	info.Unreadable, err = unreadableFiles(tx, rec)
	if err != nil {
		return TransferInfo{}, err
	}
	return info, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
