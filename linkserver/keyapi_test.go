package linkserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestKeyAPI walks GET|PUT /api/v1/me/key: sign-in needed, no key yet,
// a browser key set and read back, a passphrase change, refusals (unusable
// key 422, a different key 409), and a reset.
func TestKeyAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anon := e.client()
	if resp, body := e.do(anon, http.MethodGet, "/api/v1/me/key", nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"sign_in"`) {
		t.Errorf("GET without session: %s %s", resp.Status, body)
	}
	if resp, body := e.putJSON(anon, "/api/v1/me/key", keyJSONOf(browserKey(t, citizen).upload, false)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("PUT without session: %s %s", resp.Status, body)
	}

	c := e.client()
	e.signInJSON(c, citizen, "")
	resp, body := e.do(c, http.MethodGet, "/api/v1/me/key", nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"no_key"`) {
		t.Errorf("GET before a key: %s %s", resp.Status, body)
	}

	first := browserKey(t, citizen)
	resp, body = e.putJSON(c, "/api/v1/me/key", keyJSONOf(first.upload, false))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT a browser key: %s %s", resp.Status, body)
	}
	put := decodeKey(t, body)
	resp, body = e.do(c, http.MethodGet, "/api/v1/me/key", nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %s, Cache-Control %q", resp.Status, resp.Header.Get("Cache-Control"))
	}
	got := decodeKey(t, body)
	want := fmt.Sprintf("%x", first.secret.PrimaryKey.Fingerprint)
	if got.Fingerprint != want || put.Fingerprint != want || got.BYOK ||
		got.PassphraseLocked != string(first.upload.PassphraseLocked) || got.RecoveryLocked != string(first.upload.RecoveryLocked) ||
		!strings.Contains(got.PublicKey, "BEGIN PGP PUBLIC KEY BLOCK") || got.KeyID == "" || got.Algorithm == "" || got.SetAt.IsZero() {
		t.Errorf("key read back: %+v, want fingerprint %s and the uploaded locked copies", got, want)
	}
	var raw map[string]any
	json.Unmarshal(body, &raw)
	wantKeys := []string{"algorithm", "byok", "created", "fingerprint", "key_id", "passphrase_locked", "public_key", "recovery_locked", "set_at", "user_ids"}
	if keys := sortedKeys(raw); fmt.Sprint(keys) != fmt.Sprint(wantKeys) {
		t.Errorf("key JSON fields %v, want %v", keys, wantKeys)
	}

	// The same key with a new passphrase copy: a passphrase change.
	changed := first.upload
	changed.PassphraseLocked = lockedCopy(t, first.secret, "a new and longer passphrase")
	resp, body = e.putJSON(c, "/api/v1/me/key", keyJSONOf(changed, false))
	if resp.StatusCode != http.StatusOK || decodeKey(t, body).PassphraseLocked != string(changed.PassphraseLocked) {
		t.Errorf("passphrase change: %s %s", resp.Status, body)
	}

	// Refusals.
	bad := first.upload
	bad.PublicKey = []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----\n")
	resp, body = e.putJSON(c, "/api/v1/me/key", keyJSONOf(bad, false))
	var refusal map[string]string
	json.Unmarshal(body, &refusal)
	if resp.StatusCode != http.StatusUnprocessableEntity || refusal["reason"] != "invalid_key" ||
		refusal["error"] == "" || strings.HasPrefix(refusal["error"], "vault") {
		t.Errorf("unusable key: %s %s", resp.Status, body)
	}
	second := browserKey(t, citizen)
	resp, body = e.putJSON(c, "/api/v1/me/key", keyJSONOf(second.upload, false))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), `"key_exists"`) {
		t.Errorf("a different key without reset: %s %s", resp.Status, body)
	}
	if k, _ := e.v.AccountKey(t.Context(), citizen); k.Fingerprint != want {
		t.Errorf("the refused key replaced the account's key")
	}
	resp, body = e.putJSON(c, "/api/v1/me/key", keyJSONOf(second.upload, true))
	if resp.StatusCode != http.StatusOK || decodeKey(t, body).Fingerprint != fmt.Sprintf("%x", second.secret.PrimaryKey.Fingerprint) {
		t.Errorf("reset: %s %s", resp.Status, body)
	}
}

// TestKeyAPIGuards: the PUT is a JSON-only, same-origin, bounded,
// rate-limited request.
func TestKeyAPIGuards(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	e.signInJSON(c, citizen, "")
	k := browserKey(t, citizen)
	body := mustJSON(t, keyJSONOf(k.upload, false))
	cases := []struct {
		name   string
		body   []byte
		header []string
		status int
	}{
		{"form content type", body, []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain", body, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"cross-site", body, []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"other origin", body, []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"not an object", []byte(`"x"`), []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"trailing data", append(append([]byte{}, body...), []byte(` {}`)...), []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"too large", []byte(`{"public_key":"` + strings.Repeat("A", maxKeyBody) + `"}`), []string{"Content-Type", "application/json"}, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		resp, b := e.do(c, http.MethodPut, "/api/v1/me/key", bytes.NewReader(tc.body), tc.header...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, b, tc.status)
		}
	}
	if _, err := e.v.AccountKey(t.Context(), citizen); err == nil {
		t.Error("a refused request set a key")
	}

	// A handful of changes per account, then 429 at once.
	var last *http.Response
	for i := 0; i < int(keyAccountLimit.burst)+1; i++ {
		last, _ = e.do(c, http.MethodPut, "/api/v1/me/key", bytes.NewReader(body), "Content-Type", "application/json")
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("after %d key uploads: %s, Retry-After %q", int(keyAccountLimit.burst)+1, last.Status, last.Header.Get("Retry-After"))
	}
	e.clock.advance(keyAccountLimit.every)
	if resp, b := e.do(c, http.MethodPut, "/api/v1/me/key", bytes.NewReader(body), "Content-Type", "application/json"); resp.StatusCode != http.StatusOK {
		t.Errorf("after waiting: %s %s", resp.Status, b)
	}
}

func decodeKey(t *testing.T, b []byte) keyJSON {
	t.Helper()
	var k keyJSON
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatalf("key JSON: %v: %s", err, b)
	}
	return k
}
