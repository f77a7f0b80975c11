// Package ui is Moments' signed-in UI: server-rendered pages (html/template)
// with htmx for the parts that update in place. One file per group of
// pages (cockpit.go, accounts.go, journey.go, reports.go, settings.go,
// tasks.go); server.go holds the routes and the session check every page
// passes, templates.go the embedded templates, the layout's view and the
// error page, signin.go signing in and out.
package ui

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/moments-cs/moments/internal/web"

	"strings"

	"github.com/moments-cs/moments/internal/auth"
)

// Server serves the UI's pages. Options.Delivery, the email and webhook
// configuration, is shown read-only under Settings (settings.go); it is nil
// when playbooks are not running.
type Server struct {
	web.Options
	// errors renders a page handler's error as the error page;
	// apiErrors answers an unknown /api or /v1 path in JSON.
	errors    web.Adapter
	apiErrors web.Adapter
}

// New returns the UI. Logger, Now, People and Journey must be set.
func New(o web.Options) *Server {
	s := &Server{Options: o, apiErrors: web.JSONAdapter(o.Logger)}
	s.errors = web.Adapter{Log: o.Logger, Subject: "page", Render: s.renderError,
		Internal: "Something went wrong on the server; the log has the details under this error's id."}
	return s
}

// Routes registers the UI's pages. Each page states the permission it
// needs; uiPage signs the visitor in, checks the permission and, for every
// request that changes something, the CSRF token.
func (s *Server) Routes(rt *web.Router) {
	rt.Handle("GET /static/{file}", s.serveStatic)
	rt.Handle("GET /signin", s.signInPage)
	rt.Handle("POST /signin", s.errors.Handle(s.signIn))
	rt.Handle("POST /signout", s.uiPage(auth.PermRead, s.signOut))

	rt.Handle("GET /", s.uiPage(auth.PermRead, s.cockpitPage))
	rt.Handle("POST /tasks/{id}/complete", s.uiPage(auth.PermWorkOwn, s.taskAction("complete")))
	rt.Handle("POST /tasks/{id}/snooze", s.uiPage(auth.PermWorkOwn, s.taskAction("snooze")))
	rt.Handle("POST /tasks/{id}/reassign", s.uiPage(auth.PermWorkOwn, s.taskAction("reassign")))

	rt.Handle("GET /accounts", s.uiPage(auth.PermRead, s.accountsPage))
	rt.Handle("GET /accounts/{id}", s.uiPage(auth.PermRead, s.accountPage))
	rt.Handle("POST /accounts/{id}/moments/{moment}/start", s.uiPage(auth.PermWorkOwn, s.startMomentFromUI))

	// The journey map's pages: the swimlane and each moment's definition,
	// with delivery and the runs in flight (journey.go).
	rt.Handle("GET /journey", s.uiPage(auth.PermRead, s.journeyPage))
	rt.Handle("GET /journey/moments/{id}", s.uiPage(auth.PermRead, s.momentPage))

	rt.Handle("GET /reports", s.uiPage(auth.PermRead, s.reportsPage))
	rt.Handle("GET /reports/{report}", s.uiPage(auth.PermRead, s.reportPage))

	rt.Handle("GET /settings", s.uiPage(auth.PermJourney, s.settingsPage))
	rt.Handle("GET /settings/journey", s.uiPage(auth.PermJourney, s.settingsJourneyPage))
	rt.Handle("GET /settings/keys", s.uiPage(auth.PermKeys, s.settingsKeysPage))
	rt.Handle("POST /settings/keys", s.uiPage(auth.PermKeys, s.createKeyFromUI))
	rt.Handle("POST /settings/keys/{id}/revoke", s.uiPage(auth.PermKeys, s.revokeKeyFromUI))
	rt.Handle("GET /settings/users", s.uiPage(auth.PermUsers, s.settingsUsersPage))
	rt.Handle("POST /settings/users", s.uiPage(auth.PermUsers, s.addUserFromUI))
	rt.Handle("POST /settings/users/{id}", s.uiPage(auth.PermUsers, s.updateUserFromUI))
	rt.Handle("GET /settings/delivery", s.uiPage(auth.PermSystem, s.settingsDeliveryPage))
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
func (s *Server) uiPage(perm auth.Permission, h web.HandlerFunc) http.HandlerFunc {
	return s.errors.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Path == "/favicon.ico" {
			// Browsers ask for it on every site; answering here keeps the
			// request from bouncing through the sign-in page.
			http.NotFound(w, r)
			return nil
		}
		securityHeaders(w)
		c, err := r.Cookie(sessionCookie)
		var se auth.Session
		if err == nil {
			se, err = s.People.Authenticate(r.Context(), c.Value)
		}
		if err != nil {
			if !errors.Is(err, auth.ErrNoSession) && !errors.Is(err, http.ErrNoCookie) {
				return err
			}
			if r.URL.Path != "/" && (strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/v1/")) {
				s.apiErrors.Error(w, r, web.NotFound("the endpoint "+r.Method+" "+r.URL.Path))
				return nil
			}
			target := "/signin"
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			if isHTMX(r) {
				w.Header().Set("HX-Redirect", target)
				w.WriteHeader(http.StatusUnauthorized)
				return nil
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return nil
		}
		r = r.WithContext(context.WithValue(r.Context(), uiSessionKey{}, se))
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) != 1 {
				return web.Forbidden("This form has expired or did not come from Moments, so nothing was changed. Reload the page and try again.")
			}
		}
		if !se.Role.Can(perm) {
			return web.Forbidden(fmt.Sprintf("Your role, %s, may not open this page or do this. An admin can change your role under Settings → People.", se.Role))
		}
		return h(w, r)
	})
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
