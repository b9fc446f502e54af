package devoutbox

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decode the charsets mail comes in
	"github.com/emersion/go-message/mail"
)

// Handler serves the outbox under prefix (e.g. "/dev/outbox"): a list of
// mails, each mail's text with clickable links, its HTML part and its source.
func (o *Outbox) Handler(prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/{$}", o.list)
	mux.HandleFunc("GET "+prefix+"/{id}", o.show)
	mux.HandleFunc("GET "+prefix+"/{id}/html", o.html)
	mux.HandleFunc("GET "+prefix+"/{id}/raw", o.raw)
	mux.Handle("GET "+prefix, http.RedirectHandler(prefix+"/", http.StatusSeeOther))
	return mux
}

type view struct {
	Message
	Subject string
	Text    template.HTML
	HasHTML bool
}

func (o *Outbox) list(w http.ResponseWriter, r *http.Request) {
	var views []view
	for _, m := range o.Messages() {
		views = append(views, summarize(m))
	}
	render(w, listTmpl, views)
}

func (o *Outbox) byID(w http.ResponseWriter, r *http.Request) (Message, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	m, ok := o.message(id)
	if err != nil || !ok {
		http.Error(w, "no such mail in the development outbox (it keeps the last 100)", http.StatusNotFound)
		return Message{}, false
	}
	return m, true
}

func (o *Outbox) show(w http.ResponseWriter, r *http.Request) {
	if m, ok := o.byID(w, r); ok {
		render(w, showTmpl, summarize(m))
	}
}

// html serves the mail's HTML part inside a sandbox: no scripts, no forms,
// nothing loaded from elsewhere, as a careful mail client would show it.
func (o *Outbox) html(w http.ResponseWriter, r *http.Request) {
	m, ok := o.byID(w, r)
	if !ok {
		return
	}
	_, body := parts(m.Raw)
	w.Header().Set("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, body)
}

func (o *Outbox) raw(w http.ResponseWriter, r *http.Request) {
	if m, ok := o.byID(w, r); ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(m.Raw)
	}
}

func summarize(m Message) view {
	v := view{Message: m}
	if mr, err := mail.CreateReader(bytes.NewReader(m.Raw)); err == nil || message.IsUnknownCharset(err) {
		v.Subject, _ = mr.Header.Subject()
	}
	text, html := parts(m.Raw)
	v.Text = linkify(text)
	v.HasHTML = html != ""
	return v
}

// parts returns the first text/plain and text/html bodies, decoded.
func parts(raw []byte) (text, html string) {
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		return string(raw), ""
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return text, html
		}
		h, ok := p.Header.(*mail.InlineHeader)
		if !ok {
			continue
		}
		ct, _, _ := h.ContentType()
		b, _ := io.ReadAll(io.LimitReader(p.Body, maxMessage))
		switch {
		case ct == "text/plain" && text == "":
			text = string(b)
		case ct == "text/html" && html == "":
			html = string(b)
		}
	}
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify escapes text and makes its URLs clickable.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, loc := range urlRE.FindAllStringIndex(text, -1) {
		b.WriteString(template.HTMLEscapeString(text[last:loc[0]]))
		u := template.HTMLEscapeString(text[loc[0]:loc[1]])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		last = loc[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String())
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
	}
}

const page = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Development outbox</title></head>
<body style="font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.5">
<p style="background:#fff3cd;padding:.5rem 1rem;border-left:4px solid #b58100">Development outbox: mails sealgate relayed, kept in memory (last 100). Not part of a production setup.</p>
{{block "main" .}}{{end}}</body></html>`

var listTmpl = template.Must(template.Must(template.New("list").Parse(page)).New("main").Parse(`
<h1>Development outbox</h1>
{{if not .}}<p>No mail yet. Send one, for example:</p>
<pre>swaks --server 127.0.0.1:2525 --from clerk@example.org --to citizen@example.net \
  --header "Subject: [secure1] Your documents" --attach @README.md</pre>{{end}}
<ul>{{range .}}<li><a href="{{.ID}}">{{.Received.Format "15:04:05"}} — {{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a> to {{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}</li>{{end}}</ul>`))

var showTmpl = template.Must(template.Must(template.New("show").Parse(page)).New("main").Parse(`
<p><a href="./">← all mails</a></p>
<h1>{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</h1>
<p>From {{.From}} to {{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}, {{.Received.Format "2006-01-02 15:04:05"}}.
{{if .HasHTML}}<a href="{{.ID}}/html">HTML part</a> · {{end}}<a href="{{.ID}}/raw">source</a></p>
<pre style="white-space:pre-wrap;background:#f6f6f6;padding:1rem">{{.Text}}</pre>`))
