package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"

	"github.com/moments-cs/moments/internal/web"

	"strings"
	"time"

	"github.com/moments-cs/moments/internal/auth"
)

// The UI: server-rendered pages (html/template) with htmx for the parts that
// update in place. Every page works without JavaScript. Templates and static
// assets are embedded, so the binary is the whole application.
//
// templates/layout.html holds the shell (navigation, page title, flash) and
// the shared partials, templates/journey.html the swimlane and the moment
// definition; each templates/pages/*.html defines "content" for one page
// and is parsed on a clone of the two.
//
//go:embed templates/layout.html templates/journey.html templates/journey.css templates/pages/*.html static
var uiFS embed.FS

var (
	uiPages  = mustParseUI()
	uiStatic = mustStatic()
)

func mustParseUI() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(uiFuncs).ParseFS(uiFS, "templates/layout.html", "templates/journey.html"))
	names, err := fs.Glob(uiFS, "templates/pages/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		t := template.Must(template.Must(base.Clone()).ParseFS(uiFS, n))
		out[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return out
}

// staticFile is one embedded asset with its content hash, which versions
// its URL so that browsers may cache it for a year.
type staticFile struct {
	body        []byte
	contentType string
	hash        string
}

func mustStatic() map[string]staticFile {
	out := map[string]staticFile{}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8", ".png": "image/png"}
	add := func(name string, body []byte) {
		h := sha256.Sum256(body)
		out[name] = staticFile{body: body, contentType: types[path.Ext(name)], hash: hex.EncodeToString(h[:4])}
	}
	err := fs.WalkDir(uiFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFS.ReadFile(p)
		add(strings.TrimPrefix(p, "static/"), b)
		return err
	})
	if err != nil {
		panic(err)
	}
	// The swimlane's stylesheet belongs to the journey page; the layout
	// links it rather than inlining it.
	add("journey.css", []byte(journeyCSS))
	return out
}

// assetURL is the versioned URL of a static file.
func assetURL(name string) string {
	if f, ok := uiStatic[name]; ok {
		return "/static/" + name + "?v=" + f.hash
	}
	return "/static/" + name
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := uiStatic[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == f.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	_, _ = w.Write(f.body)
}

// uiView is what every page template receives: the shell's data and the
// page's own in Data.
type uiView struct {
	Title    string
	Subtitle string
	// Section is the navigation entry that is current.
	Section string
	Session auth.Session
	// Flash is a one-line message at the top of the page.
	Flash string
	// Error is a one-line error at the top of the page.
	Error string
	Data  any
	// TZ is the viewer's time zone (from the tz cookie), UTC by default.
	TZ *time.Location
	// Now is the server's clock, for "in 3 days".
	Now time.Time
}

// Can reports whether the viewer has a permission, for templates.
func (v uiView) Can(p string) bool { return v.Session.Role.Can(auth.Permission(p)) }

// CSRF is the token forms carry.
func (v uiView) CSRF() string { return v.Session.CSRF }

// SignedIn reports whether there is a viewer (the sign-in and error pages
// may have none).
func (v uiView) SignedIn() bool { return v.Session.User.ID != "" }

// viewerTZ reads the time zone the browser reported (app.js sets the
// cookie); UTC when unknown.
func viewerTZ(r *http.Request) *time.Location {
	c, err := r.Cookie(tzCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 {
		return time.UTC
	}
	name, err := url.QueryUnescape(c.Value)
	if err != nil {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// view starts the view of a page.
func (s *Server) view(r *http.Request, section, title string, data any) uiView {
	v := uiView{Title: title, Section: section, Session: uiSession(r), Data: data, TZ: viewerTZ(r), Now: s.Now()}
	switch r.URL.Query().Get("done") {
	case "":
	default:
		v.Flash = flashText(r.URL.Query().Get("done"))
	}
	return v
}

// flashText turns a done= code after a redirect into a message; codes keep
// the URL free of text an attacker could craft.
func flashText(code string) string {
	return map[string]string{
		"task_completed":  "Task marked done.",
		"task_snoozed":    "Task snoozed.",
		"task_reassigned": "Task reassigned.",
		"moment_started":  "Moment started: its playbook is running.",
		"moment_exists":   "This moment is already running for this account today.",
		"key_revoked":     "API key revoked. Requests with it are refused within 10 seconds.",
		"user_added":      "Person added.",
		"user_updated":    "Person updated.",
	}[code]
}

// render renders page into a buffer first, so that a template error
// becomes a clean error page rather than half a page. An htmx request for
// a part gets only the template named by part.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v uiView) {
	s.renderPart(w, r, status, page, "layout", v)
}

func (s *Server) renderPart(w http.ResponseWriter, r *http.Request, status int, page, part string, v any) {
	t, ok := uiPages[page]
	var buf bytes.Buffer
	err := fmt.Errorf("no page template %q", page)
	if ok {
		err = t.ExecuteTemplate(&buf, part, v)
	}
	if err != nil {
		id := web.ErrorID()
		s.Logger.ErrorContext(r.Context(), "page failed", "error_id", id, "path", r.URL.Path, "err", err)
		http.Error(w, "Something went wrong on the server (error id "+id+").", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type uiErrorData struct {
	Status  int
	Message string
	ID      string
	Next    string
}

// renderError renders the error page of an error a page handler returned
// (the adapter has logged it under e.ID, which the page shows). An htmx
// request gets the message alone.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, e *web.Error) {
	title := map[int]string{
		http.StatusNotFound: "Not found", http.StatusForbidden: "Not allowed", http.StatusBadRequest: "Please check the form",
		http.StatusConflict: "Already done", http.StatusTooManyRequests: "Too many attempts",
	}[e.Status]
	if title == "" {
		title = "Something went wrong"
	}
	v := s.view(r, "", title, uiErrorData{Status: e.Status, Message: e.Message, ID: e.ID})
	if isHTMX(r) {
		s.renderPart(w, r, e.Status, "error", "error_message", v)
		return
	}
	s.render(w, r, e.Status, "error", v)
}

// uiNotFound is a 404 whose message is a whole sentence for the page.
func uiNotFound(what string) *web.Error {
	return web.NewError(http.StatusNotFound, "not_found", "", what)
}

// uiBadRequest is a 400 about one form field.
func uiBadRequest(field, msg string) *web.Error {
	return web.NewError(http.StatusBadRequest, "invalid", field, msg)
}

// --- template helpers ------------------------------------------------------

// pageLink is a link in a list of filters, tabs or pages.
type pageLink struct {
	Label   string
	URL     string
	Current bool
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
