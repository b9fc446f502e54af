package linkserver

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := []testFile{
		{name: "Bescheid.pdf", contentType: "application/pdf", size: 12345, seed: 1},
		{name: "Foto.jpg", contentType: "image/jpeg", size: 999, seed: 2},
	}
	st := e.add(1, files...)
	resp, body := e.get("/api/v1/transfers/" + st.token)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("manifest: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	if keys := sortedKeys(raw); !reflect.DeepEqual(keys, []string{"expires_at", "files", "level", "sender"}) {
		t.Errorf("manifest keys %v", keys)
	}
	var m struct {
		Level     int       `json:"level"`
		ExpiresAt time.Time `json:"expires_at"`
		Sender    string    `json:"sender"`
		Files     []map[string]any
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Level != 1 || m.Sender != "sachbearbeitung@musterhausen.example" ||
		!m.ExpiresAt.Equal(time.Date(2026, 5, 9, 9, 30, 0, 0, time.UTC)) || len(m.Files) != 2 {
		t.Fatalf("manifest %s", body)
	}
	for i, f := range m.Files {
		if keys := sortedKeys(f); !reflect.DeepEqual(keys, []string{"content_type", "download_url", "id", "name", "sha256", "size"}) {
			t.Errorf("file keys %v", keys)
		}
		if f["id"] != st.files[i].ID || f["name"] != files[i].name || f["size"] != float64(files[i].size) || f["sha256"] != files[i].sum() {
			t.Errorf("file %d: %v", i, f)
		}
		url, _ := f["download_url"].(string)
		resp, err := http.Get(url) // absolute, on the public URL
		if err != nil {
			t.Fatal(err)
		}
		got := hashBody(t, resp)
		if got != files[i].sum() {
			t.Errorf("download_url %d does not return the file", i)
		}
	}
}

func TestManifestLevel2WithoutSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.add(2, testFile{name: "a.pdf", contentType: "application/pdf", data: []byte("a")})
	resp, body := e.get("/api/v1/transfers/" + st.token)
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s", resp.Status, body)
	}
	if keys := sortedKeys(raw); !reflect.DeepEqual(keys, []string{"expires_at", "level", "sign_in_required"}) || raw["sign_in_required"] != true || raw["level"] != float64(2) {
		t.Errorf("level 2 manifest without session: %s", body)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}
