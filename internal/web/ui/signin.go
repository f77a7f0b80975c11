package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"strings"
	"time"

	"github.com/moments-cs/moments/internal/auth"
)

// Sign-in and sign-out: the only pages without a session.

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
		if _, err := s.People.Authenticate(r.Context(), c.Value); err == nil {
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
	v := uiView{Title: "Sign in", Error: msg, Data: d, TZ: viewerTZ(r), Now: s.Now()}
	if r.URL.Query().Get("done") == "signed_out" {
		v.Flash = "You are signed out."
	}
	s.render(w, r, status, "signin", v)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) error {
	d := signInData{Email: strings.TrimSpace(r.PostFormValue("email")), Next: localPath(r.PostFormValue("next"), "")}
	c, err := r.Cookie(signInCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.renderSignIn(w, r, http.StatusForbidden, d,
			"The sign-in form had expired or did not come from this page. Please sign in again.")
		return nil
	}
	token, _, err := s.People.SignIn(r.Context(), d.Email, r.PostFormValue("password"), clientIP(r), r.UserAgent())
	var locked *auth.LockedOutError
	switch {
	case errors.As(err, &locked):
		s.renderSignIn(w, r, http.StatusTooManyRequests, d, fmt.Sprintf(
			"Too many failed sign-ins. Sign-in is paused for this account and address until %s. An admin can reset your password meanwhile.",
			locked.Until.In(viewerTZ(r)).Format("15:04 MST")))
		return nil
	case errors.Is(err, auth.ErrBadCredentials):
		s.renderSignIn(w, r, http.StatusUnauthorized, d, "The email or the password is not right.")
		return nil
	case err != nil:
		return err
	}
	setCookie(w, r, signInCookie, "", -1)
	setCookie(w, r, sessionCookie, token, int(s.People.Config().SessionMax/time.Second))
	http.Redirect(w, r, localPath(d.Next, "/"), http.StatusSeeOther)
	return nil
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.People.SignOut(r.Context(), c.Value); err != nil {
			return err
		}
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/signin?done=signed_out", http.StatusSeeOther)
	return nil
}
