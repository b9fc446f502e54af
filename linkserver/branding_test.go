package linkserver

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBranding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	logoFile := filepath.Join(dir, "logo.png")
	if err := os.WriteFile(logoFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{
		PublicURL: "https://files.example.org", BrandingName: "Kanzlei Beispiel",
		LogoFile: logoFile, ImprintURL: "https://example.org/impressum", PrivacyURL: "https://example.org/datenschutz",
	}, e.v, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	for _, want := range []string{`<img src="/static/logo" alt=""`, "<span>Kanzlei Beispiel</span>",
		`<a href="https://example.org/impressum">Impressum</a>`, `<a href="https://example.org/datenschutz">Datenschutz</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/logo", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" || !bytes.Equal(rec.Body.Bytes(), buf.Bytes()) {
		t.Errorf("logo: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	// Without a logo there is no logo address and no image in the page.
	rec = httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/logo", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("logo without branding.logo_file: %d", rec.Code)
	}

	notImage := filepath.Join(dir, "logo.html")
	os.WriteFile(notImage, []byte("<html><script>alert(1)</script></html>"), 0o644)
	big := filepath.Join(dir, "big.png")
	os.WriteFile(big, append(buf.Bytes(), make([]byte, maxLogoBytes)...), 0o644)
	for _, cfg := range []Config{
		{PublicURL: "https://x", LogoFile: notImage},
		{PublicURL: "https://x", LogoFile: big},
		{PublicURL: "https://x", LogoFile: filepath.Join(dir, "missing.png")},
		{PublicURL: "https://x", ImprintURL: "javascript:alert(1)"},
	} {
		if _, err := New(cfg, e.v, nil, nil); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}
