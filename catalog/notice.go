package catalog

import (
	"html"
	"strings"
	"time"
	"unicode"
)

// NoticeData is what the notice in a rewritten mail tells the recipient.
type NoticeData struct {
	Level       int       // security level 1..4
	TransferURL string    // the transfer page, https://…/t/{token}
	HomeURL     string    // web.public_url, where the access code can be typed
	AccessCode  string    // grouped for typing, e.g. ABCD-EFGH-JKMN-PQRS
	ExpiresAt   time.Time // in the readers' time zone; zero: not shown
	Files       []NoticeFile
	SenderOrg   string // the organisation's name (branding.name); empty: not shown
	// UploadURL is the recipient's personal upload link, https://…/u/{token};
	// empty: not shown. With TransferURL empty (nothing was stored, the
	// clerk only asked for documents) the notice is about the upload alone.
	UploadURL string
}

// NoticeFile is one stored file as the notice lists it.
type NoticeFile struct {
	Name string
	Size int64
}

// noticeLangs returns lang first, then every other language: the notice
// goes out before anyone knows the recipient's language, so it speaks all
// of them (German first for sealgate's default).
func (c *Catalog) noticeLangs(lang string) []string {
	first := c.Lang(lang)
	out := []string{first}
	for _, l := range c.langs {
		if l != first {
			out = append(out, l)
		}
	}
	return out
}

func howKey(level int) string {
	switch {
	case level >= 3:
		return "notice.how.3"
	case level == 2:
		return "notice.how.2"
	default:
		return "notice.how.1"
	}
}

// plain removes line breaks and invisible or control characters from text
// taken from a mail (file names), so it can neither break the layout nor
// fake a line of its own.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\r' || r == '\n':
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r):
			return -1
		}
		return r
	}, s)
}

// NoticeText renders the plain-text notice: one section per language, lang
// first. Every URL stands alone on its own line, in full, so that a
// text-only reader or a filter that breaks links still leaves something to
// copy.
func (c *Catalog) NoticeText(lang string, d NoticeData) string {
	if d.TransferURL == "" && d.UploadURL == "" {
		return ""
	}
	var b strings.Builder
	rule := strings.Repeat("=", 64) + "\n"
	b.WriteString(rule)
	for i, l := range c.noticeLangs(lang) {
		if i > 0 {
			b.WriteString("\n" + strings.Repeat("- ", 32)[:63] + "\n\n")
		}
		if d.TransferURL == "" {
			c.uploadOnlyText(&b, l, d)
			continue
		}
		b.WriteString(c.T(l, "notice.title") + "\n\n")
		if d.Level >= 4 {
			b.WriteString(c.T(l, "notice.intro.level4") + "\n")
		} else {
			b.WriteString(c.T(l, "notice.intro") + "\n")
		}
		if d.SenderOrg != "" {
			b.WriteString(c.T(l, "notice.sender", plain(d.SenderOrg)) + "\n")
		}
		switch {
		case len(d.Files) > 0 && d.Level >= 4:
			b.WriteString("\n" + c.fileCount(l, len(d.Files)) + "\n")
		case len(d.Files) > 0:
			b.WriteString("\n" + c.T(l, "notice.files") + "\n")
			for _, f := range d.Files {
				b.WriteString("  * " + c.T(l, "notice.file", plain(f.Name), c.Size(l, f.Size)) + "\n")
			}
		}
		b.WriteString("\n" + c.T(l, howKey(d.Level)) + "\n")
		b.WriteString(plain(d.TransferURL) + "\n")
		if d.AccessCode != "" {
			b.WriteString("\n" + c.T(l, "notice.code", plain(d.AccessCode)) + "\n")
			if d.HomeURL != "" {
				b.WriteString(c.T(l, "notice.code_hint") + "\n")
				b.WriteString(plain(d.HomeURL) + "\n")
			}
		}
		if d.UploadURL != "" {
			b.WriteString("\n" + c.T(l, "notice.upload") + "\n" + plain(d.UploadURL) + "\n")
		}
		if !d.ExpiresAt.IsZero() {
			b.WriteString("\n" + c.T(l, "notice.expires", c.Date(l, d.ExpiresAt)) + "\n")
		}
	}
	b.WriteString(rule)
	return b.String()
}

// uploadOnlyText is one language's section of a notice that offers only
// the upload link.
func (c *Catalog) uploadOnlyText(b *strings.Builder, l string, d NoticeData) {
	b.WriteString(c.T(l, "notice.upload.title") + "\n\n")
	if d.SenderOrg != "" {
		b.WriteString(c.T(l, "notice.sender", plain(d.SenderOrg)) + "\n\n")
	}
	b.WriteString(c.T(l, "notice.upload") + "\n" + plain(d.UploadURL) + "\n")
	if !d.ExpiresAt.IsZero() {
		b.WriteString("\n" + c.T(l, "notice.upload.expires", c.Date(l, d.ExpiresAt)) + "\n")
	}
}

// fileCount says how many files wait beside a level-4 message: their
// names could tell what the message is about, so they are not shown.
func (c *Catalog) fileCount(l string, n int) string {
	if n == 1 {
		return c.T(l, "notice.files.level4.one")
	}
	return c.T(l, "notice.files.level4", n)
}

// NeutralSubject is the subject a level-4 mail goes out with when
// notify.neutral_subject is set: it names the organisation (org, may be
// empty) and nothing of the message.
func (c *Catalog) NeutralSubject(lang, org string) string {
	if org = strings.TrimSpace(plain(org)); org != "" {
		return c.T(lang, "notice.subject.neutral", org)
	}
	return c.T(lang, "notice.subject.neutral.noorg")
}

// Inline styles only: mail readers drop <style> blocks and never load
// remote stylesheets. Colours pass WCAG AA contrast (white on #1f4e79 is
// 8.9:1, #1a1a1a on #f4f7fa 16:1).
const (
	styleBox    = "margin:0 0 24px 0;padding:16px 20px;border:1px solid #c9d3dd;border-left:4px solid #1f4e79;background-color:#f4f7fa;font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.5;color:#1a1a1a;"
	styleTitle  = "margin:0 0 8px 0;font-size:16px;font-weight:bold;"
	styleP      = "margin:0 0 8px 0;"
	styleList   = "margin:0 0 12px 0;padding-left:20px;"
	styleSize   = "color:#4a4a4a;"
	styleButton = "display:inline-block;padding:10px 18px;background-color:#1f4e79;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:bold;"
	styleURL    = "margin:0 0 8px 0;font-size:12px;color:#4a4a4a;word-break:break-all;"
	styleLink   = "color:#1f4e79;"
	styleCode   = "font-family:Consolas,Menlo,monospace;font-size:15px;letter-spacing:1px;"
	styleRule   = "border:0;border-top:1px solid #c9d3dd;margin:16px 0;"
)

// NoticeHTML renders the HTML notice: a fragment for the top of <body>,
// one section per language, lang first. Everything taken from data is
// escaped (file names may hold markup); only http and https URLs become
// links; there are no images and no remote resources.
func (c *Catalog) NoticeHTML(lang string, d NoticeData) string {
	if d.TransferURL == "" && d.UploadURL == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<div style="` + styleBox + `">`)
	for i, l := range c.noticeLangs(lang) {
		if i > 0 {
			b.WriteString(`<hr style="` + styleRule + `">`)
		}
		b.WriteString(`<div lang="` + html.EscapeString(l) + `">`)
		if d.TransferURL == "" {
			c.uploadOnlyHTML(&b, l, d)
			b.WriteString(`</div>`)
			continue
		}
		b.WriteString(`<p style="` + styleTitle + `">` + esc(c.T(l, "notice.title")) + `</p>`)
		intro := "notice.intro"
		if d.Level >= 4 {
			intro = "notice.intro.level4"
		}
		b.WriteString(`<p style="` + styleP + `">` + esc(c.T(l, intro)))
		if d.SenderOrg != "" {
			b.WriteString(`<br>` + esc(c.T(l, "notice.sender", plain(d.SenderOrg))))
		}
		b.WriteString(`</p>`)
		switch {
		case len(d.Files) > 0 && d.Level >= 4:
			b.WriteString(`<p style="` + styleP + `">` + esc(c.fileCount(l, len(d.Files))) + `</p>`)
		case len(d.Files) > 0:
			b.WriteString(`<p style="` + styleP + `">` + esc(c.T(l, "notice.files")) + `</p><ul style="` + styleList + `">`)
			for _, f := range d.Files {
				b.WriteString(`<li>` + esc(plain(f.Name)) + ` <span style="` + styleSize + `">(` + esc(c.Size(l, f.Size)) + `)</span></li>`)
			}
			b.WriteString(`</ul>`)
		}
		b.WriteString(`<p style="` + styleP + `">` + esc(c.T(l, howKey(d.Level))) + `</p>`)
		button := "notice.button"
		if d.Level >= 4 {
			button = "notice.button.level4"
		}
		if webURL(d.TransferURL) {
			b.WriteString(`<p style="margin:0 0 12px 0;"><a href="` + esc(d.TransferURL) + `" style="` + styleButton + `">` + esc(c.T(l, button)) + `</a></p>`)
		}
		b.WriteString(`<p style="` + styleURL + `">` + link(d.TransferURL) + `</p>`)
		if d.AccessCode != "" {
			// The code is set apart from the words around it, wherever the
			// language puts it.
			pre, post, _ := strings.Cut(c.T(l, "notice.code", "\x00"), "\x00")
			b.WriteString(`<p style="` + styleP + `">` + esc(pre) +
				`<strong style="` + styleCode + `">` + esc(plain(d.AccessCode)) + `</strong>` + esc(post))
			if d.HomeURL != "" {
				b.WriteString(`<br>` + esc(c.T(l, "notice.code_hint")) + ` ` + link(d.HomeURL))
			}
			b.WriteString(`</p>`)
		}
		if d.UploadURL != "" {
			b.WriteString(`<p style="` + styleP + `">` + esc(c.T(l, "notice.upload")) + `<br>` + link(d.UploadURL) + `</p>`)
		}
		if !d.ExpiresAt.IsZero() {
			b.WriteString(`<p style="margin:0;">` + esc(c.T(l, "notice.expires", c.Date(l, d.ExpiresAt))) + `</p>`)
		}
		b.WriteString(`</div>`)
	}
	b.WriteString(`</div>`)
	// Line breaks between blocks keep every line short, whatever transfer
	// encoding carries the fragment.
	return strings.NewReplacer("</p>", "</p>\n", "</ul>", "</ul>\n", "</div>", "</div>\n").Replace(b.String())
}

// uploadOnlyHTML is one language's section of a notice that offers only
// the upload link.
func (c *Catalog) uploadOnlyHTML(b *strings.Builder, l string, d NoticeData) {
	b.WriteString(`<p style="` + styleTitle + `">` + esc(c.T(l, "notice.upload.title")) + `</p>`)
	if d.SenderOrg != "" {
		b.WriteString(`<p style="` + styleP + `">` + esc(c.T(l, "notice.sender", plain(d.SenderOrg))) + `</p>`)
	}
	b.WriteString(`<p style="` + styleP + `">` + esc(c.T(l, "notice.upload")) + `</p>`)
	if webURL(d.UploadURL) {
		b.WriteString(`<p style="margin:0 0 12px 0;"><a href="` + esc(d.UploadURL) + `" style="` + styleButton + `">` + esc(c.T(l, "notice.upload.button")) + `</a></p>`)
	}
	b.WriteString(`<p style="` + styleURL + `">` + link(d.UploadURL) + `</p>`)
	if !d.ExpiresAt.IsZero() {
		b.WriteString(`<p style="margin:0;">` + esc(c.T(l, "notice.upload.expires", c.Date(l, d.ExpiresAt))) + `</p>`)
	}
}

func esc(s string) string { return html.EscapeString(s) }

// webURL reports whether u may become a link: http or https only, so that
// nothing can smuggle a javascript: or data: URL into the notice.
func webURL(u string) bool {
	l := strings.ToLower(u)
	return (strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")) &&
		!strings.ContainsAny(u, " \t\r\n\"'<>")
}

// link renders u as a link showing itself, or as plain text when it may
// not be a link.
func link(u string) string {
	if !webURL(u) {
		return esc(plain(u))
	}
	return `<a href="` + esc(u) + `" style="` + styleLink + `">` + esc(u) + `</a>`
}
