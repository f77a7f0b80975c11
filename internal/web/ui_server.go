package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"

	"strings"
	"time"

	"github.com/moments-cs/moments/internal/auth"
)

// The UI: server-rendered pages (html/template) with htmx for the parts that
// update in place. Every page works without JavaScript. Templates and static
// assets are embedded, so the binary is the whole application.
//
// ui/layout.html holds the shell (navigation, page title, flash) and the
// shared partials; each ui/pages/*.html defines "content" for one page and
// is parsed on a clone of the layout.
//
//go:embed ui/layout.html ui/pages/*.html ui/static
var uiFS embed.FS

var (
	uiPages  = mustParseUI()
	uiStatic = mustStatic()
)

func mustParseUI() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(uiFuncs).ParseFS(uiFS, "ui/layout.html"))
	names, err := fs.Glob(uiFS, "ui/pages/*.html")
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
	err := fs.WalkDir(uiFS, "ui/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFS.ReadFile(p)
		add(strings.TrimPrefix(p, "ui/static/"), b)
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

// uiRoutes registers the UI's pages. Each page states the permission it
// needs; uiPage signs the visitor in, checks the permission and, for every
// request that changes something, the CSRF token.
func (s *Server) uiRoutes() {
	if s.people == nil && s.store != nil {
		s.people = auth.NewPeople(s.store, auth.PeopleConfig{})
	}
	s.handle("GET /static/{file}", s.serveStatic)
	s.handle("GET /signin", s.signInPage)
	s.handle("POST /signin", s.signIn)
	s.handle("POST /signout", s.uiPage(auth.PermRead, s.signOut))

	s.handle("GET /", s.uiPage(auth.PermRead, s.cockpitPage))
	s.handle("POST /tasks/{id}/complete", s.uiPage(auth.PermWorkOwn, s.taskAction("complete")))
	s.handle("POST /tasks/{id}/snooze", s.uiPage(auth.PermWorkOwn, s.taskAction("snooze")))
	s.handle("POST /tasks/{id}/reassign", s.uiPage(auth.PermWorkOwn, s.taskAction("reassign")))

	s.handle("GET /accounts", s.uiPage(auth.PermRead, s.accountsPage))
	s.handle("GET /accounts/{id}", s.uiPage(auth.PermRead, s.accountPage))
	s.handle("POST /accounts/{id}/moments/{moment}/start", s.uiPage(auth.PermWorkOwn, s.startMomentFromUI))

	s.handle("GET /reports", s.uiPage(auth.PermRead, s.reportsPage))
	s.handle("GET /reports/{report}", s.uiPage(auth.PermRead, s.reportPage))

	s.handle("GET /settings", s.uiPage(auth.PermJourney, s.settingsPage))
	s.handle("GET /settings/journey", s.uiPage(auth.PermJourney, s.settingsJourneyPage))
	s.handle("GET /settings/keys", s.uiPage(auth.PermKeys, s.settingsKeysPage))
	s.handle("POST /settings/keys", s.uiPage(auth.PermKeys, s.createKeyFromUI))
	s.handle("POST /settings/keys/{id}/revoke", s.uiPage(auth.PermKeys, s.revokeKeyFromUI))
	s.handle("GET /settings/users", s.uiPage(auth.PermUsers, s.settingsUsersPage))
	s.handle("POST /settings/users", s.uiPage(auth.PermUsers, s.addUserFromUI))
	s.handle("POST /settings/users/{id}", s.uiPage(auth.PermUsers, s.updateUserFromUI))
	s.handle("GET /settings/delivery", s.uiPage(auth.PermSystem, s.settingsDeliveryPage))
}

// Cookie names. The session cookie holds the secret session id; the
// sign-in cookie holds the CSRF token of the sign-in form, which is sent
// before there is a session (double-submit).
const (
	sessionCookie = "moments_session"
	signInCookie  = "moments_signin"
	tzCookie      = "moments_tz"
)

type uiSessionKey struct{}

// uiSession returns the signed-in person of a request that went through
// uiPage.
func uiSession(r *http.Request) auth.Session {
	se, _ := r.Context().Value(uiSessionKey{}).(auth.Session)
	return se
}

// isHTMX reports a request made by htmx to update part of a page.
func isHTMX(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// secureRequest reports whether the browser reached us over TLS, directly
// or through a proxy that says so.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// clientIP is the address lock-out counts failures against: the TCP peer.
// X-Forwarded-For is not trusted, since any client can send it.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteLaxMode,
	})
}

// securityHeaders keep pages from being framed, sniffed or leaking their
// URLs, and allow scripts from this server only.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// uiPage wraps a page handler: it finds the session (or sends the visitor
// to sign in), checks the permission (403 page otherwise) and, on every
// request that is not a GET, the CSRF token from the "csrf" form field or
// the X-CSRF-Token header that htmx sends (403 otherwise).
func (s *Server) uiPage(perm auth.Permission, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			// Browsers ask for it on every site; answering here keeps the
			// request from bouncing through the sign-in page.
			http.NotFound(w, r)
			return
		}
		securityHeaders(w)
		c, err := r.Cookie(sessionCookie)
		var se auth.Session
		if err == nil {
			se, err = s.people.Authenticate(r.Context(), c.Value)
		}
		if err != nil {
			if !errors.Is(err, auth.ErrNoSession) && !errors.Is(err, http.ErrNoCookie) {
				s.uiError(w, r, err)
				return
			}
			if r.URL.Path != "/" && (strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/v1/")) {
				s.writeError(w, r, notFound("the endpoint "+r.Method+" "+r.URL.Path), nil)
				return
			}
			target := "/signin"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			if isHTMX(r) {
				w.Header().Set("HX-Redirect", target)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		// The actor rides in the context so the services below record who
		// did what in the audit trail.
		ctx := auth.WithActor(context.WithValue(r.Context(), uiSessionKey{}, se), auth.UserActor(se.User.Email, clientIP(r)))
		r = r.WithContext(ctx)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) != 1 {
				s.uiForbidden(w, r, "This form has expired or did not come from Moments, so nothing was changed. Reload the page and try again.")
				return
			}
		}
		if !se.Role.Can(perm) {
			s.uiForbidden(w, r, fmt.Sprintf("Your role, %s, may not open this page or do this. An admin can change your role under Settings → People.", se.Role))
			return
		}
		h(w, r)
	}
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
	v := uiView{Title: title, Section: section, Session: uiSession(r), Data: data, TZ: viewerTZ(r), Now: s.now()}
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
		id := errorID()
		s.log.ErrorContext(r.Context(), "page failed", "error_id", id, "path", r.URL.Path, "err", err)
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

// uiError renders an error page; internal errors show an id that leads to
// the log line. An htmx request gets the message alone.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal",
			Message: "Something went wrong on the server; the log has the details under this error's id."}
	}
	id := errorID()
	if ae.Status >= 500 {
		s.log.ErrorContext(r.Context(), "page failed", "error_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.InfoContext(r.Context(), "page refused", "error_id", id, "method", r.Method, "path", r.URL.Path, "message", ae.Message)
	}
	title := map[int]string{
		http.StatusNotFound: "Not found", http.StatusForbidden: "Not allowed", http.StatusBadRequest: "Please check the form",
		http.StatusConflict: "Already done", http.StatusTooManyRequests: "Too many attempts",
	}[ae.Status]
	if title == "" {
		title = "Something went wrong"
	}
	v := s.view(r, "", title, uiErrorData{Status: ae.Status, Message: ae.Message, ID: id})
	if isHTMX(r) {
		s.renderPart(w, r, ae.Status, "error", "error_message", v)
		return
	}
	s.render(w, r, ae.Status, "error", v)
}

func (s *Server) uiForbidden(w http.ResponseWriter, r *http.Request, msg string) {
	s.uiError(w, r, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: msg})
}

func uiNotFound(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: what}
}

func uiBadRequest(field, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "invalid", Field: field, Message: msg}
}

// back redirects a form post to where it came from (a local path only),
// with a done= code for the flash.
func back(w http.ResponseWriter, r *http.Request, fallback, done string) {
	target := localPath(r.PostFormValue("back"), fallback)
	if done != "" {
		u, _ := url.Parse(target)
		q := u.Query()
		q.Set("done", done)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localPath accepts only a path on this server, so that a crafted next= or
// back= cannot send a person elsewhere after sign-in.
func localPath(p, fallback string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return fallback
	}
	u, err := url.Parse(p)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return p
}

// --- sign-in ---------------------------------------------------------------

type signInData struct {
	Email string
	Next  string
	Token string
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, err := s.people.Authenticate(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, localPath(r.URL.Query().Get("next"), "/"), http.StatusSeeOther)
			return
		}
	}
	s.renderSignIn(w, r, http.StatusOK, signInData{Next: localPath(r.URL.Query().Get("next"), "")}, "")
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, d signInData, msg string) {
	// Keep the browser's form token while it is valid: a second tab (or a
	// favicon request bounced here) must not invalidate the first form.
	if c, err := r.Cookie(signInCookie); err == nil && len(c.Value) == 32 && status == http.StatusOK {
		d.Token = c.Value
	} else {
		d.Token = randomToken()
	}
	setCookie(w, r, signInCookie, d.Token, 3600)
	v := uiView{Title: "Sign in", Error: msg, Data: d, TZ: viewerTZ(r), Now: s.now()}
	if r.URL.Query().Get("done") == "signed_out" {
		v.Flash = "You are signed out."
	}
	s.render(w, r, status, "signin", v)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	d := signInData{Email: strings.TrimSpace(r.PostFormValue("email")), Next: localPath(r.PostFormValue("next"), "")}
	c, err := r.Cookie(signInCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.renderSignIn(w, r, http.StatusForbidden, d,
			"The sign-in form had expired or did not come from this page. Please sign in again.")
		return
	}
	token, _, err := s.people.SignIn(r.Context(), d.Email, r.PostFormValue("password"), clientIP(r), r.UserAgent())
	var locked *auth.LockedOutError
	switch {
	case errors.As(err, &locked):
		s.renderSignIn(w, r, http.StatusTooManyRequests, d, fmt.Sprintf(
			"Too many failed sign-ins. Sign-in is paused for this account and address until %s. An admin can reset your password meanwhile.",
			locked.Until.In(viewerTZ(r)).Format("15:04 MST")))
		return
	case errors.Is(err, auth.ErrBadCredentials):
		s.renderSignIn(w, r, http.StatusUnauthorized, d, "The email or the password is not right.")
		return
	case err != nil:
		s.uiError(w, r, err)
		return
	}
	setCookie(w, r, signInCookie, "", -1)
	setCookie(w, r, sessionCookie, token, int(s.people.Config().SessionMax/time.Second))
	http.Redirect(w, r, localPath(d.Next, "/"), http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.people.SignOut(r.Context(), c.Value); err != nil {
			s.uiError(w, r, err)
			return
		}
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin?done=signed_out", http.StatusSeeOther)
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
