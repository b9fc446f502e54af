package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// content is one mail before it becomes MIME: the same blocks render as the
// plain-text and as the HTML part, so the two always say the same.
type content struct {
	lang    string
	subject string
	blocks  []block
	footer  []string
	attach  *attachment // nil: none
	// replyTo is a checked address for Reply-To; "" for none.
	replyTo string
	// files are attached after attach, streamed from the vault.
	files []fileAttachment
}

type blockKind int

const (
	kindPara  blockKind = iota // a paragraph
	kindCode                   // a sign-in code, set apart for reading and typing
	kindLink                   // a button-like link; the URL is always shown in full
	kindFacts                  // label: value lines
	kindList                   // a titled list
	kindPre                    // preformatted text, such as a signed receipt
)

type block struct {
	kind  blockKind
	text  string // para, code, pre; the link's label; the list's title
	url   string // link
	facts []fact // facts
	items []string
}

type fact struct{ label, value string }

// attachment is a file attached as it is, base64-encoded so that its bytes
// arrive exactly.
type attachment struct {
	name        string
	contentType string
	data        []byte
}

// fileAttachment is a stored file attached to a mail, read when the mail
// is composed.
type fileAttachment struct {
	name        string
	contentType string
	sha256      string // what the bytes must hash to
	open        func() (io.ReadCloser, error)
}

// text renders the plain-text part: every URL alone on its own line, in
// full, so that a text-only reader or a filter that breaks links still
// leaves something to copy.
func (c *content) text() string {
	var b strings.Builder
	for _, bl := range c.blocks {
		switch bl.kind {
		case kindPara:
			b.WriteString(bl.text + "\n\n")
		case kindCode:
			b.WriteString("    " + bl.text + "\n\n")
		case kindLink:
			b.WriteString(bl.text + ":\n" + bl.url + "\n\n")
		case kindFacts:
			for _, f := range bl.facts {
				b.WriteString(f.label + ": " + f.value + "\n")
			}
			b.WriteString("\n")
		case kindList:
			b.WriteString(bl.text + ":\n")
			for _, it := range bl.items {
				b.WriteString("- " + it + "\n")
			}
			b.WriteString("\n")
		case kindPre:
			b.WriteString(strings.TrimRight(bl.text, "\n") + "\n\n")
		}
	}
	// "-- " starts a signature for mail readers, which then grey it out.
	b.WriteString("-- \n")
	for _, f := range c.footer {
		b.WriteString(f + "\n")
	}
	return b.String()
}

// html renders the HTML part: inline styles only (mail readers drop style
// sheets), no images, nothing fetched from anywhere.
func (c *content) html() (string, error) {
	type htmlFact struct{ Label, Value string }
	type htmlBlock struct {
		Kind  string
		Text  string
		URL   string
		Facts []htmlFact
		Items []string
	}
	data := struct {
		Lang, Subject string
		Blocks        []htmlBlock
		Footer        []string
	}{Lang: c.lang, Subject: c.subject, Footer: c.footer}
	kinds := map[blockKind]string{kindPara: "para", kindCode: "code", kindLink: "link", kindFacts: "facts", kindList: "list", kindPre: "pre"}
	for _, bl := range c.blocks {
		hb := htmlBlock{Kind: kinds[bl.kind], Text: bl.text, URL: bl.url, Items: bl.items}
		for _, f := range bl.facts {
			hb.Facts = append(hb.Facts, htmlFact{f.label, f.value})
		}
		data.Blocks = append(data.Blocks, hb)
	}
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render HTML part: %w", err)
	}
	return b.String(), nil
}

var htmlTemplate = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:16px;background:#ffffff;color:#1a1a1a;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5">
<div style="max-width:640px">
{{- range .Blocks}}
{{- if eq .Kind "para"}}
<p style="margin:0 0 16px">{{.Text}}</p>
{{- else if eq .Kind "code"}}
<p style="margin:0 0 16px;font-family:Consolas,Menlo,monospace;font-size:28px;font-weight:bold;letter-spacing:4px">{{.Text}}</p>
{{- else if eq .Kind "link"}}
<p style="margin:0 0 4px"><a href="{{.URL}}" style="display:inline-block;padding:10px 20px;background:#0b4f8a;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:bold">{{.Text}}</a></p>
<p style="margin:0 0 16px;font-size:14px;word-break:break-all"><a href="{{.URL}}" style="color:#0b4f8a">{{.URL}}</a></p>
{{- else if eq .Kind "facts"}}
<table role="presentation" style="margin:0 0 16px;border-collapse:collapse">
{{- range .Facts}}
<tr><th scope="row" style="padding:2px 16px 2px 0;text-align:left;vertical-align:top;font-weight:bold">{{.Label}}</th><td style="padding:2px 0;vertical-align:top">{{.Value}}</td></tr>
{{- end}}
</table>
{{- else if eq .Kind "list"}}
<p style="margin:0 0 4px;font-weight:bold">{{.Text}}</p>
<ul style="margin:0 0 16px;padding-left:24px">
{{- range .Items}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- else if eq .Kind "pre"}}
<pre style="margin:0 0 16px;padding:12px;background:#f3f3f3;font-family:Consolas,Menlo,monospace;font-size:13px;white-space:pre-wrap;word-break:break-all">{{.Text}}</pre>
{{- end}}
{{- end}}
<hr style="margin:24px 0 8px;border:none;border-top:1px solid #cccccc">
{{- range .Footer}}
<p style="margin:0;font-size:13px;color:#555555">{{.}}</p>
{{- end}}
</div>
</body>
</html>
`))
