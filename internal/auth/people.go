package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Errors of sign-in and people management.
var (
	// ErrBadCredentials means the email or the password is wrong; which of
	// the two is never said.
	ErrBadCredentials = errors.New("the email or the password is not right")
	// ErrNoSession means the session is unknown, expired or signed out.
	ErrNoSession = errors.New("not signed in, or the session has expired")
	// ErrLastAdmin refuses to demote or disable the only active admin.
	ErrLastAdmin = errors.New("this is the only active admin: make someone else admin first")
)

// LockedOutError says that sign-in is refused until Until, after too many
// failures for the account or from the address.
type LockedOutError struct{ Until time.Time }

func (e *LockedOutError) Error() string {
	return fmt.Sprintf("too many failed sign-ins: try again after %s", e.Until.UTC().Format("15:04 UTC"))
}

// PeopleConfig holds the session and lock-out policy. Zero values take the
// documented defaults.
type PeopleConfig struct {
	// SessionIdle ends a session unused for this long. Default 12 hours.
	SessionIdle time.Duration
	// SessionMax ends every session this long after sign-in. Default 7 days.
	SessionMax time.Duration
	// FailureLimit failed sign-ins within FailureWindow, for one email or
	// from one IP address, lock it out for LockOut. Defaults 5, 15 minutes,
	// 15 minutes.
	FailureLimit  int
	FailureWindow time.Duration
	LockOut       time.Duration
}

func (c *PeopleConfig) defaults() {
	if c.SessionIdle <= 0 {
		c.SessionIdle = 12 * time.Hour
	}
	if c.SessionMax <= 0 {
		c.SessionMax = 7 * 24 * time.Hour
	}
	if c.FailureLimit <= 0 {
		c.FailureLimit = 5
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 15 * time.Minute
	}
	if c.LockOut <= 0 {
		c.LockOut = 15 * time.Minute
	}
}

// People manages the people who sign in to the UI and their sessions.
type People struct {
	store *store.Store
	cfg   PeopleConfig
	now   func() time.Time
	// dummy is a hash checked when the email is unknown, so that a wrong
	// email takes as long as a wrong password and does not reveal who has
	// an account.
	dummy string
}

// NewPeople returns the people service over s.
func NewPeople(s *store.Store, cfg PeopleConfig) *People {
	cfg.defaults()
	dummy, _ := HashPassword(GeneratePassword())
	return &People{store: s, cfg: cfg, now: func() time.Time { return time.Now().UTC() }, dummy: dummy}
}

// SetClock replaces the clock; for tests.
func (p *People) SetClock(now func() time.Time) { p.now = now }

// Config returns the policy in force.
func (p *People) Config() PeopleConfig { return p.cfg }

// CheckEmail validates an email address and returns its stored form.
func CheckEmail(email string) (string, error) {
	e := store.NormalizeEmail(email)
	if e == "" {
		return "", errors.New("an email address is required")
	}
	if len(e) > 254 {
		return "", errors.New("an email address may have at most 254 characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e {
		return "", fmt.Errorf("%q is not an email address", email)
	}
	return e, nil
}

// Add creates a person. An empty password generates one, which is
// returned; a given one is returned as is.
func (p *People) Add(ctx context.Context, email, name string, role Role, password string) (store.User, string, error) {
	e, err := CheckEmail(email)
	if err != nil {
		return store.User{}, "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return store.User{}, "", err
	}
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		return store.User{}, "", errors.New("a name may have at most 200 characters")
	}
	if password == "" {
		password = GeneratePassword()
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.User{}, "", err
	}
	u := store.User{ID: "usr_" + strings.ToLower(randomString(12)), Email: e, Name: name, Role: string(role), CreatedAt: p.now()}
	if err := p.store.CreateUser(ctx, u, hash); err != nil {
		return store.User{}, "", err
	}
	u.UpdatedAt = u.CreatedAt
	return u, password, nil
}

// Bootstrap creates the first admin, with a generated password, when there
// are no people at all (first start) and returns the password; otherwise
// it returns "", so the password is shown in clear exactly once.
func (p *People) Bootstrap(ctx context.Context, email string) (string, error) {
	n, err := p.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	_, pw, err := p.Add(ctx, email, "Administrator", RoleAdmin, "")
	if errors.Is(err, store.ErrUserExists) {
		return "", nil // another process won the race
	}
	return pw, err
}

// SetRole changes a person's role; the last active admin keeps theirs.
func (p *People) SetRole(ctx context.Context, id string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if role != RoleAdmin {
		if err := p.keepAnAdmin(ctx, id); err != nil {
			return err
		}
	}
	return p.store.SetUserRole(ctx, id, string(role), p.now())
}

// SetDisabled disables (signing out everywhere) or re-enables a person; the
// last active admin cannot be disabled.
func (p *People) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if disabled {
		if err := p.keepAnAdmin(ctx, id); err != nil {
			return err
		}
	}
	return p.store.SetUserDisabled(ctx, id, disabled, p.now())
}

// SetPassword replaces a person's password and signs them out everywhere.
func (p *People) SetPassword(ctx context.Context, id, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return p.store.SetUserPassword(ctx, id, hash, p.now())
}

func (p *People) keepAnAdmin(ctx context.Context, id string) error {
	users, err := p.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	others, target := 0, false
	for _, u := range users {
		if u.Role != string(RoleAdmin) || u.DisabledAt != nil {
			continue
		}
		if u.ID == id {
			target = true
		} else {
			others++
		}
	}
	if target && others == 0 {
		return ErrLastAdmin
	}
	return nil
}

// Session is a signed-in person as a request sees it.
type Session struct {
	User store.User
	Role Role
	// CSRF is the synchronizer token every form and htmx request of this
	// session must carry.
	CSRF      string
	ExpiresAt time.Time
	hash      []byte
}

// Hash returns the stored hash of the session id.
func (s Session) Hash() []byte { return s.hash }

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// csrfFor derives the session's CSRF token from its secret id: bound to the
// session, unguessable without the id, and needing no storage. The prefix
// keeps it from ever equalling the session hash.
func csrfFor(token string) string {
	h := sha256.Sum256([]byte("moments csrf token\x00" + token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func failureKeys(email, ip string) []string {
	keys := []string{"email:" + store.NormalizeEmail(email)}
	if ip != "" {
		keys = append(keys, "ip:"+ip)
	}
	return keys
}

// SignIn checks an email and password and opens a session, returning its
// secret token (for the cookie; only its hash is stored). After
// FailureLimit failures for the email or from ip within FailureWindow,
// sign-in is refused with a *LockedOutError for LockOut, even with the
// right password.
func (p *People) SignIn(ctx context.Context, email, password, ip, userAgent string) (string, Session, error) {
	now := p.now()
	keys := failureKeys(email, ip)
	until, err := p.store.SignInLockedUntil(ctx, now, keys...)
	if err != nil {
		return "", Session{}, err
	}
	if !until.IsZero() {
		return "", Session{}, &LockedOutError{Until: until}
	}
	u, hash, err := p.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		CheckPassword(p.dummy, password)
	case err != nil:
		return "", Session{}, err
	}
	if err != nil || !CheckPassword(hash, password) || u.DisabledAt != nil {
		var locked time.Time
		for _, k := range keys {
			t, ferr := p.store.RecordSignInFailure(ctx, k, now, p.cfg.FailureWindow, p.cfg.FailureLimit, p.cfg.LockOut)
			if ferr != nil {
				return "", Session{}, ferr
			}
			if t.After(locked) {
				locked = t
			}
		}
		if !locked.IsZero() {
			return "", Session{}, &LockedOutError{Until: locked}
		}
		return "", Session{}, ErrBadCredentials
	}
	// Only the account's count is cleared: clearing the address's would let
	// one valid account reset the count of an attacker guessing others.
	if err := p.store.ClearSignInFailures(ctx, keys[0]); err != nil {
		return "", Session{}, err
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	se := store.Session{
		IDHash: hashToken(token), UserID: u.ID, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(p.cfg.SessionIdle), AbsoluteAt: now.Add(p.cfg.SessionMax), IP: ip, UserAgent: userAgent,
	}
	if se.ExpiresAt.After(se.AbsoluteAt) {
		se.ExpiresAt = se.AbsoluteAt
	}
	if err := p.store.CreateSession(ctx, se); err != nil {
		return "", Session{}, err
	}
	if err := p.store.TouchUserSignIn(ctx, u.ID, now); err != nil {
		return "", Session{}, err
	}
	return token, Session{User: u, Role: Role(u.Role), CSRF: csrfFor(token), ExpiresAt: se.ExpiresAt, hash: se.IDHash}, nil
}

// touchEvery bounds how often a session's expiry is moved: once a minute
// is precise enough and spares a write per page view.
const touchEvery = time.Minute

// Authenticate returns the session of a token, sliding its expiry forward.
func (p *People) Authenticate(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 100 {
		return Session{}, ErrNoSession
	}
	now := p.now()
	h := hashToken(token)
	se, u, err := p.store.SessionByHash(ctx, h, now)
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	if now.Sub(se.LastSeenAt) > touchEvery {
		se.ExpiresAt = now.Add(p.cfg.SessionIdle)
		if se.ExpiresAt.After(se.AbsoluteAt) {
			se.ExpiresAt = se.AbsoluteAt
		}
		if err := p.store.ExtendSession(ctx, h, now, se.ExpiresAt); err != nil {
			return Session{}, err
		}
	}
	return Session{User: u, Role: Role(u.Role), CSRF: csrfFor(token), ExpiresAt: se.ExpiresAt, hash: h}, nil
}

// SignOut ends the session of a token.
func (p *People) SignOut(ctx context.Context, token string) error {
	return p.store.DeleteSession(ctx, hashToken(token))
}

// Prune deletes expired sessions.
func (p *People) Prune(ctx context.Context) (int64, error) {
	return p.store.DeleteExpiredSessions(ctx, p.now())
}
