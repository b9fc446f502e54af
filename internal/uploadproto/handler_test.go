package uploadproto

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"sealgate/vault"
)

func TestOptionsAndVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, Config{MaxSize: 5000, MaxFiles: 3})
	req, _ := http.NewRequest(http.MethodOptions, e.filesURL(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Tus-Version") != "1.0.0" || h.Get("Tus-Max-Size") != "5000" ||
		h.Get("Tus-Extension") != "creation,termination" || h.Get("Tus-Resumable") != "1.0.0" {
		t.Fatalf("OPTIONS: %d %v", resp.StatusCode, h)
	}
	req, _ = http.NewRequest(http.MethodPost, e.filesURL(), nil)
	req.Header.Set("Tus-Resumable", "0.2.2")
	req.Header.Set("Upload-Length", "10")
	if r := do(t, req); r.status != http.StatusPreconditionFailed {
		t.Fatalf("old protocol version: %d", r.status)
	}
}

func TestForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, Config{})
	e.mu.Lock()
	e.deny = true
	e.mu.Unlock()
	if r := create(t, e.filesURL(), "a.pdf", 10); r.status != http.StatusForbidden || r.body.Code != "forbidden" {
		t.Fatalf("refused by the callback: %d %+v", r.status, r.body)
	}
	if up, _ := e.v.CurrentUpload(context.Background(), e.token, citizen); up.ID != "" {
		t.Fatal("an upload was made")
	}
}

// TestLimitsRefusedBeforeStoring: every over-limit request is answered
// 413 naming the limit, and nothing of it reaches the disk.
func TestLimitsRefusedBeforeStoring(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, Config{MaxSize: 10_000, MaxFiles: 2})
	ctx := context.Background()

	// Declared size over uploads.max_size.
	r := create(t, e.filesURL(), "big.pdf", 10_001)
	if r.status != http.StatusRequestEntityTooLarge || r.body.Code != "limit" || r.body.Limit != "uploads.max_size" || r.body.Max != 10_000 {
		t.Fatalf("declared size: %d %+v", r.status, r.body)
	}
	if up, _ := e.v.CurrentUpload(ctx, e.token, citizen); up.ID != "" {
		t.Fatal("an upload was made for a refused file")
	}
	a := e.upload(t, "a.pdf", bytes.Repeat([]byte("a"), 6000))
	// The total counts.
	if r := create(t, e.filesURL(), "b.pdf", 4001); r.status != http.StatusRequestEntityTooLarge || r.body.Limit != "uploads.max_size" {
		t.Fatalf("total: %d %+v", r.status, r.body)
	}
	r = create(t, e.filesURL(), "b.pdf", 4000)
	if r.status != http.StatusCreated {
		t.Fatalf("b: %d %s", r.status, r.raw)
	}
	b := e.absolute(r.location)
	if r := create(t, e.filesURL(), "c.pdf", 0); r.status != http.StatusRequestEntityTooLarge || r.body.Limit != "uploads.max_files" || r.body.Max != 2 {
		t.Fatalf("max_files: %d %+v", r.status, r.body)
	}
	blobsBefore := blobFiles(t, e.dir)
	// A declared body longer than the file: refused before reading.
	if r := patch(t, b, 0, bytes.NewReader(make([]byte, 4001)), 4001); r.status != http.StatusRequestEntityTooLarge || r.body.Code != "too_long" {
		t.Fatalf("long Content-Length: %d %+v", r.status, r.body)
	}
	if n := blobFiles(t, e.dir); n != blobsBefore {
		t.Fatalf("blobs %d -> %d for a refused body", blobsBefore, n)
	}
	if h := head(t, b); h.offset != 0 {
		t.Fatalf("offset after refusal: %d", h.offset)
	}
	// Undeclared (chunked) body with more bytes than the file: the
	// declared ones are kept, the rest refused.
	if r := patch(t, b, 0, io.MultiReader(bytes.NewReader(make([]byte, 4000)), strings.NewReader("extra")), -1); r.status != http.StatusRequestEntityTooLarge || r.body.Code != "too_long" {
		t.Fatalf("chunked overlong body: %d %+v", r.status, r.body)
	}
	if h := head(t, b); h.offset != 4000 || h.length != 4000 {
		t.Fatalf("after the overlong body: %+v", h)
	}
	// Deleting a file frees its share.
	req, _ := http.NewRequest(http.MethodDelete, a, nil)
	if r := do(t, req); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	if r := head(t, a); r.status != http.StatusNotFound {
		t.Fatalf("HEAD after DELETE: %d", r.status)
	}
	if r := create(t, e.filesURL(), "c.pdf", 6000); r.status != http.StatusCreated {
		t.Fatalf("after DELETE: %d %s", r.status, r.raw)
	}
}

func TestOffsetConflictAndStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, Config{MaxSize: 1 << 20, MaxFiles: 5})
	r := create(t, e.filesURL(), "Antrag ä.pdf", 100)
	url := e.absolute(r.location)
	if !strings.HasPrefix(r.location, "/u/"+e.token+"/files/") {
		t.Fatalf("Location %q", r.location)
	}
	if p := patch(t, url, 0, strings.NewReader(strings.Repeat("x", 40)), 40); p.status != http.StatusNoContent || p.offset != 40 {
		t.Fatalf("first patch: %d %d", p.status, p.offset)
	}
	if p := patch(t, url, 10, strings.NewReader("y"), 1); p.status != http.StatusConflict || p.body.Code != "offset" {
		t.Fatalf("wrong offset: %d %+v", p.status, p.body)
	}
	req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader("y"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Upload-Offset", "40")
	if p := do(t, req); p.status != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong content type: %d", p.status)
	}
	resp, err := http.Get(e.filesURL())
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.State != vault.UploadOpen || st.Clerk != "clerk@musterstadt.example" || len(st.Files) != 1 || st.Files[0].Name != "Antrag ä.pdf" ||
		st.Files[0].Offset != 40 || st.Files[0].State != vault.FileReceiving || st.Limits.MaxFiles != 5 || st.Files[0].URL != r.location {
		t.Fatalf("status: %+v", st)
	}
	if p := patch(t, url, 40, strings.NewReader(strings.Repeat("z", 60)), 60); p.status != http.StatusNoContent || p.offset != 100 {
		t.Fatalf("last patch: %d %d", p.status, p.offset)
	}
	// A retried final PATCH (the answer got lost) is harmless.
	if p := patch(t, url, 100, strings.NewReader(""), 0); p.status != http.StatusNoContent || p.offset != 100 {
		t.Fatalf("retried final patch: %d %d %s", p.status, p.offset, p.raw)
	}
	up, _ := e.v.CurrentUpload(context.Background(), e.token, citizen)
	if f := up.Files[0]; f.State != vault.FileAccepted || f.SHA256 == "" {
		t.Fatalf("file after the last byte: %+v", f)
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	m, err := parseMetadata(meta("a,b.pdf", "application/pdf") + ",is_confidential")
	if err != nil || m["filename"] != "a,b.pdf" || m["filetype"] != "application/pdf" || m["is_confidential"] != "" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"filename ***", "filename YQ==,filename Yg==", " , ", "filename /w=="} {
		if _, err := parseMetadata(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestStalledBodyKeepsWhatArrived: a client that stops sending is cut off
// after IdleTimeout; what arrived is stored, HEAD says so, and the upload
// resumes from there.
func TestStalledBodyKeepsWhatArrived(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, Config{IdleTimeout: 300 * time.Millisecond})
	r := create(t, e.filesURL(), "slow.pdf", 10_000)
	url := e.absolute(r.location)
	// A raw connection: send the headers and 3000 of 10000 bytes, then
	// nothing, and wait until the server gives up on us.
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"+
		"Upload-Offset: 0\r\nContent-Length: 10000\r\n\r\n", strings.TrimPrefix(url, e.srv.URL))
	conn.Write(bytes.Repeat([]byte("s"), 3000))
	io.Copy(io.Discard, conn) // returns when the server closes the connection
	if h := head(t, url); h.status != http.StatusOK || h.offset != 3000 {
		t.Fatalf("HEAD after the stall: %d offset %d", h.status, h.offset)
	}
	if p := patch(t, url, 3000, bytes.NewReader(bytes.Repeat([]byte("s"), 7000)), 7000); p.status != http.StatusNoContent || p.offset != 10_000 {
		t.Fatalf("resume: %d %d", p.status, p.offset)
	}
}
