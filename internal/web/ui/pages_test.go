package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestUISignIn(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 0)
	c := browserClient(t)

	res, err := c.Get(f.url + "/accounts?segment=smb")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "a page needs a session")
	require.Equal(t, "/signin?next="+url.QueryEscape("/accounts?segment=smb"), res.Header.Get("Location"))

	status, body := f.page(t, c, "/signin")
	require.Equal(t, http.StatusOK, status)
	token := csrfField.FindStringSubmatch(body)[1]

	tests := []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"no form token", url.Values{"email": {csmEmail}, "password": {f.passwords[csmEmail]}}, http.StatusForbidden, "form had expired"},
		{"wrong password", url.Values{"email": {csmEmail}, "password": {"not the password"}, "csrf": {"?"}}, http.StatusUnauthorized, "email or the password is not right"},
		{"unknown email", url.Values{"email": {"who@example.com"}, "password": {"whatever it is"}, "csrf": {"?"}}, http.StatusUnauthorized, "email or the password is not right"},
	}
	for _, tt := range tests {
		if tt.form.Has("csrf") {
			tt.form.Set("csrf", token)
		}
		status, body, _ := f.post(t, c, "/signin", tt.form)
		require.Equal(t, tt.status, status, tt.name)
		require.Contains(t, body, tt.says, tt.name)
		token = csrfField.FindStringSubmatch(body)[1] // each render issues a new form token
	}

	status, _, h := f.post(t, c, "/signin", url.Values{"email": {"CSM@example.com"}, "password": {f.passwords[csmEmail]},
		"csrf": {token}, "next": {"/accounts?segment=smb"}}, "X-Forwarded-Proto", "https")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/accounts?segment=smb", h.Get("Location"), "back to the page asked for")
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == "moments_session" {
			session = ck
		}
	}
	require.NotNil(t, session)
	require.True(t, session.HttpOnly)
	require.True(t, session.Secure, "Secure behind a TLS proxy")
	require.Equal(t, http.SameSiteLaxMode, session.SameSite)
	require.GreaterOrEqual(t, len(session.Value), 40, "a long random session id")

	// The Secure cookie is not sent back over plain HTTP by a browser; the
	// test client keeps it, so sign in again without the proxy header.
	c = browserClient(t)
	csrf := f.signIn(t, c, csmEmail)
	status, body = f.page(t, c, "/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Casey CSM")

	// A crafted next= does not leave the site.
	c2 := browserClient(t)
	_, body = f.page(t, c2, "/signin")
	status, _, h = f.post(t, c2, "/signin", url.Values{"email": {viewerEmail}, "password": {f.passwords[viewerEmail]},
		"csrf": {csrfField.FindStringSubmatch(body)[1]}, "next": {"//evil.example/x"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/", h.Get("Location"))

	// Signing out revokes the session on the server.
	cookies := c.Jar.Cookies(mustURL(t, f.url))
	status, _, _ = f.post(t, c, "/signout", url.Values{"csrf": {csrf}})
	require.Equal(t, http.StatusSeeOther, status)
	replay := browserClient(t)
	replay.Jar.SetCookies(mustURL(t, f.url), cookies)
	res, err = replay.Get(f.url + "/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode, "the old session cookie no longer works")
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestUISignInLockOut(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 0)
	c := browserClient(t)
	var status int
	var body string
	for range 5 {
		_, page := f.page(t, c, "/signin")
		status, body, _ = f.post(t, c, "/signin", url.Values{"email": {opsEmail}, "password": {"guess guess guess"},
			"csrf": {csrfField.FindStringSubmatch(page)[1]}})
	}
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, body, "Too many failed sign-ins")
	_, page := f.page(t, c, "/signin")
	status, _, _ = f.post(t, c, "/signin", url.Values{"email": {opsEmail}, "password": {f.passwords[opsEmail]},
		"csrf": {csrfField.FindStringSubmatch(page)[1]}})
	require.Equal(t, http.StatusTooManyRequests, status, "locked out even with the right password")
}

func TestUICSRF(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 0)
	c := browserClient(t)
	csrf := f.signIn(t, c, adminEmail)
	form := url.Values{"name": {"Segment production"}, "scope": {"write"}}

	status, body, _ := f.post(t, c, "/settings/keys", form)
	require.Equal(t, http.StatusForbidden, status, "no token")
	require.Contains(t, body, "nothing was changed")
	form.Set("csrf", "forged")
	status, _, _ = f.post(t, c, "/settings/keys", form)
	require.Equal(t, http.StatusForbidden, status, "wrong token")
	form.Del("csrf")
	status, _, _ = f.post(t, c, "/settings/keys", form, "HX-Request", "true", "X-CSRF-Token", "forged")
	require.Equal(t, http.StatusForbidden, status, "wrong htmx header")
	keys, err := f.store.ListKeys(t.Context())
	require.NoError(t, err)
	require.Empty(t, keys, "nothing was created")

	status, body, _ = f.post(t, c, "/settings/keys", form, "X-CSRF-Token", csrf)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "mkw_", "the new key is shown once")
	form.Set("csrf", csrf)
	status, _, _ = f.post(t, c, "/settings/keys", form)
	require.Equal(t, http.StatusOK, status)

	// Another person's token is not this session's token.
	other := browserClient(t)
	otherCSRF := f.signIn(t, other, opsEmail)
	require.NotEqual(t, csrf, otherCSRF)
	form.Set("csrf", otherCSRF)
	status, _, _ = f.post(t, c, "/settings/keys", form)
	require.Equal(t, http.StatusForbidden, status, "a token is bound to its session")
}

func TestUIRoles(t *testing.T) {
	t.Parallel()
	f := setupUI(t, 4)
	type call struct {
		method, path string
	}
	get := func(p string) call { return call{"GET", p} }
	post := func(p string) call { return call{"POST", p} }
	allowed := map[string][]call{}
	refused := map[string][]call{
		csmEmail: {get("/settings"), get("/settings/journey"), get("/settings/keys"), get("/settings/users"), get("/settings/delivery"),
			post("/settings/keys"), post("/settings/users"), post("/accounts/" + f.otherAccount + "/moments/proposal_sent/start")},
		viewerEmail: {get("/settings/journey"), post("/settings/keys"), post("/accounts/" + f.csmAccount + "/moments/proposal_sent/start"),
			post("/tasks/any/complete")},
		opsEmail: {get("/settings/keys"), get("/settings/users"), get("/settings/delivery"), post("/settings/keys")},
	}
	for _, who := range []string{adminEmail, opsEmail, csmEmail, viewerEmail} {
		allowed[who] = []call{get("/"), get("/accounts"), get("/accounts/" + f.csmAccount), get("/reports"),
			get("/reports/health"), get("/reports/exceptions"), get("/reports/time-to-value"), get("/reports/moments"), get("/reports/moments.csv")}
	}
	allowed[opsEmail] = append(allowed[opsEmail], get("/settings/journey"), get("/settings/journey?from=0&to=1"))
	allowed[adminEmail] = append(allowed[adminEmail], get("/settings/journey"), get("/settings/keys"), get("/settings/users"), get("/settings/delivery"))
	for who, calls := range allowed {
		c := browserClient(t)
		f.signIn(t, c, who)
		for _, cl := range calls {
			status, body := f.page(t, c, cl.path)
			require.Equal(t, http.StatusOK, status, "%s %s as %s: %s", cl.method, cl.path, who, snippet(body))
		}
	}
	for who, calls := range refused {
		c := browserClient(t)
		csrf := f.signIn(t, c, who)
		for _, cl := range calls {
			var status int
			var body string
			if cl.method == "GET" {
				status, body = f.page(t, c, cl.path)
			} else {
				status, body, _ = f.post(t, c, cl.path, url.Values{"csrf": {csrf}, "name": {"x"}, "scope": {"admin"}, "email": {"x@example.com"}, "role": {"admin"}})
			}
			require.Equal(t, http.StatusForbidden, status, "%s %s as %s", cl.method, cl.path, who)
			require.Contains(t, body, "<h1>Not allowed</h1>", "%s %s as %s: the 403 page", cl.method, cl.path, who)
			require.Regexp(t, `may (not|start)`, body, "%s %s as %s: the 403 page says why", cl.method, cl.path, who)
		}
	}
	users, err := f.store.ListUsers(t.Context())
	require.NoError(t, err)
	require.Len(t, users, 5, "no refused request added anyone")
}

func snippet(s string) string {
	if i := strings.Index(s, `data-message`); i >= 0 {
		return s[i:min(len(s), i+300)]
	}
	return s[:min(len(s), 300)]
}

var _ = time.Second
