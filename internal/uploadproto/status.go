package uploadproto

import (
	"time"

	"sealgate/vault"
)

// Status is the answer to GET on the collection: the open upload and the
// limits, for the upload page's script.
type Status struct {
	// UploadID is empty while nothing was uploaded yet.
	UploadID  string       `json:"upload_id,omitempty"`
	State     string       `json:"state"`
	Clerk     string       `json:"clerk"` // who receives the upload
	ExpiresAt time.Time    `json:"expires_at"`
	Message   bool         `json:"message"` // a message is stored
	Files     []FileStatus `json:"files"`
	Limits    Limits       `json:"limits"`
}

// FileStatus is one file of the open upload.
type FileStatus struct {
	ID     string `json:"id"`
	URL    string `json:"url"` // the tus upload URL
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
	State  string `json:"state"` // receiving, complete, accepted
	SHA256 string `json:"sha256,omitempty"`
}

// Limits are the upload limits, 0 meaning none.
type Limits struct {
	MaxSize  int64 `json:"max_size"`
	MaxFiles int   `json:"max_files"`
	Scanned  bool  `json:"virus_scan"`
}

func statusOf(up vault.Upload, collection string, cfg Config) Status {
	s := Status{
		UploadID: up.ID, State: up.State, Clerk: up.Sender, ExpiresAt: up.ExpiresAt, Message: up.MessageSize > 0,
		Files:  []FileStatus{},
		Limits: Limits{MaxSize: cfg.MaxSize, MaxFiles: cfg.MaxFiles, Scanned: cfg.Scanner != nil},
	}
	for _, f := range up.Files {
		s.Files = append(s.Files, FileStatus{ID: f.ID, URL: collection + f.ID, Name: f.Name, Type: f.ContentType,
			Size: f.Size, Offset: f.Offset, State: f.State, SHA256: f.SHA256})
	}
	return s
}
