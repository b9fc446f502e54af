package adminapi

import (
	"sort"
	"time"

	"sealgate/vault"
)

// Transfer is the admin's view of one transfer, as the API sends it and
// `sealgate transfers list|show --json` prints it. It holds no secret: no
// token, access code or key.
type Transfer struct {
	ID          string     `json:"id"`
	State       string     `json:"state"` // one of vault's State constants
	Level       int        `json:"level"`
	Sender      string     `json:"sender"`
	Recipients  []string   `json:"recipients"`
	Upload      bool       `json:"upload"`
	Committed   bool       `json:"committed"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	RevokedAt   time.Time  `json:"revoked_at,omitzero"`
	LockedAt    time.Time  `json:"locked_at,omitzero"`
	FailedCodes int        `json:"failed_codes"`
	Files       []File     `json:"files"`
	Downloads   []Download `json:"downloads"`
}

// File is one file of a transfer and the keys that can open it.
type File struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	// Keys are the keys whose key packets can open the file; empty once
	// the file was withdrawn (revoked): nothing can open it any more.
	Keys []Key `json:"keys"`
}

// Key kinds (Key.Kind).
const (
	KeyGateway   = "gateway"   // one of the gateway's own keys (levels 1–2, pending 3–4)
	KeyRecipient = "recipient" // a recipient's own key (levels 3–4)
)

// Key names one key that can open a file.
type Key struct {
	// ID is the hex fingerprint of the (sub)key the key packet is
	// encrypted to.
	ID   string `json:"id"`
	Kind string `json:"kind"` // KeyGateway or KeyRecipient
	// Current is true for the gateway's current key, false for a retired
	// gateway key and for recipients' keys.
	Current bool `json:"current"`
}

// Download says who downloaded one file, when and how often.
type Download struct {
	FileID string    `json:"file_id"`
	Email  string    `json:"email"` // empty for downloads without sign-in (level 1)
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Count  int       `json:"count"`
}

// Account is a recipient's account as the admin sees it.
type Account struct {
	Email      string    `json:"email"`
	CreatedAt  time.Time `json:"created_at"`
	LastActive time.Time `json:"last_active"`
	// DeleteOn is when retention deletes the account if it stays idle.
	DeleteOn time.Time `json:"delete_on"`
	WarnedAt time.Time `json:"warned_at,omitzero"`
	Lang     string    `json:"lang,omitempty"`
	HasKey   bool      `json:"has_key"`
}

// PurgeRequest asks for a retention run.
type PurgeRequest struct {
	// AsOf is the time retention is applied as of; zero means now.
	AsOf time.Time `json:"as_of,omitzero"`
	// DryRun changes nothing and reports what would go.
	DryRun bool `json:"dry_run"`
}

// PurgeResult says what a retention run deleted (or would delete).
type PurgeResult struct {
	AsOf       time.Time `json:"as_of"`
	DryRun     bool      `json:"dry_run"`
	Transfers  []string  `json:"transfers"`
	Files      int       `json:"files"`
	Accounts   []string  `json:"accounts"`
	Sessions   int       `json:"sessions"`
	LoginCodes int       `json:"login_codes"`
	Keys       []string  `json:"keys"`
	Orphans    int       `json:"orphans"`
	Compacted  bool      `json:"compacted"`
}

// KeyRotation is the answer to a gateway key rotation.
type KeyRotation struct {
	// KeyID is the new current key's ID (the fingerprint its key packets
	// are stored under).
	KeyID string `json:"key_id"`
}

// utc drops the monotonic reading and the location, so that a value looks
// the same whether it came from the vault or through JSON.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func transferView(info vault.TransferInfo) Transfer {
	t := Transfer{
		ID:          info.ID,
		State:       info.State,
		Level:       info.Level,
		Sender:      info.Sender,
		Recipients:  nonNil(append([]string(nil), info.Recipients...)),
		Upload:      info.Upload,
		Committed:   info.Committed,
		CreatedAt:   utc(info.CreatedAt),
		ExpiresAt:   utc(info.ExpiresAt),
		RevokedAt:   utc(info.RevokedAt),
		LockedAt:    utc(info.LockedAt),
		FailedCodes: info.FailedCodes,
		Files:       []File{},
		Downloads:   []Download{},
	}
	for _, f := range info.Files {
		file := File{ID: f.ID, Name: f.Name, ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256, Keys: []Key{}}
		for _, k := range info.FileKeys[f.ID] {
			kind := KeyRecipient
			if k.Gateway {
				kind = KeyGateway
			}
			file.Keys = append(file.Keys, Key{ID: k.ID, Kind: kind, Current: k.Current})
		}
		// Gateway keys first, then by ID: a stable order for both
		// modes of the CLI.
		sort.Slice(file.Keys, func(i, j int) bool {
			a, b := file.Keys[i], file.Keys[j]
			if a.Kind != b.Kind {
				return a.Kind == KeyGateway
			}
			return a.ID < b.ID
		})
		t.Files = append(t.Files, file)
	}
	for _, d := range info.Downloads {
		t.Downloads = append(t.Downloads, Download{FileID: d.FileID, Email: d.Email, First: utc(d.First), Last: utc(d.Last), Count: d.Count})
	}
	return t
}

func accountView(a vault.Account, deleteOn time.Time) Account {
	return Account{
		Email:      a.Email,
		CreatedAt:  utc(a.CreatedAt),
		LastActive: utc(a.LastActive),
		DeleteOn:   utc(deleteOn),
		WarnedAt:   utc(a.WarnedAt),
		Lang:       a.Lang,
		HasKey:     a.HasKey,
	}
}

func purgeView(rep vault.PurgeReport, asOf time.Time, dryRun bool) PurgeResult {
	return PurgeResult{
		AsOf:       utc(asOf),
		DryRun:     dryRun,
		Transfers:  nonNil(rep.Transfers),
		Files:      rep.Files,
		Accounts:   nonNil(rep.Accounts),
		Sessions:   rep.Sessions,
		LoginCodes: rep.LoginCodes,
		Keys:       nonNil(rep.Keys),
		Orphans:    rep.Orphans,
		Compacted:  rep.Compacted,
	}
}
