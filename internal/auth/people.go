package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
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
	// ErrBusy refuses a sign-in when too many are being checked at once.
	ErrBusy = errors.New("too many sign-ins are being checked at once: try again in a few seconds")
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
	// FailureLimit failed sign-ins within FailureWindow for one account from
	// one address lock that address out of the account for LockOut.
	// Defaults 5, 15 minutes, 15 minutes.
	FailureLimit  int
	FailureWindow time.Duration
	LockOut       time.Duration
	// AddressFailureLimit failed sign-ins from one address within
	// FailureWindow, for any accounts, lock the address out. Default
	// 4 × FailureLimit.
	AddressFailureLimit int
	// AccountFailureLimit failed sign-ins for one account within
	// FailureWindow, from any addresses, lock the account out everywhere:
	// the bound on guessing from many addresses. Default 10 × FailureLimit.
	AccountFailureLimit int
	// MaxLockOut caps the back-off: each lock-out in a row lasts twice as
	// long as the one before, up to this. Default 24 hours.
	MaxLockOut time.Duration
	// HashConcurrency bounds the password hashes computed at once (each
	// takes 19 MiB), so a burst of sign-ins cannot exhaust memory. Default 2.
	HashConcurrency int
	// HashWait is how long a sign-in waits for a free hash before it is
	// refused with ErrBusy. Default 10 seconds.
	HashWait time.Duration
	// Logger receives failed sign-ins and lock-outs, with the address.
	Logger *slog.Logger
	// Audit, when set, records sign-ins, lock-outs and changes to people.
	Audit *Audit
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
	if c.AddressFailureLimit <= 0 {
		c.AddressFailureLimit = 4 * c.FailureLimit
	}
	if c.AccountFailureLimit <= 0 {
		c.AccountFailureLimit = 10 * c.FailureLimit
	}
	if c.MaxLockOut <= 0 {
		c.MaxLockOut = 24 * time.Hour
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2
	}
	if c.HashWait <= 0 {
		c.HashWait = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
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
	// hashSlots bounds the argon2 hashes computed at once: without it,
	// every concurrent sign-in allocates 19 MiB.
	hashSlots chan struct{}
}

// NewPeople returns the people service over s.
func NewPeople(s *store.Store, cfg PeopleConfig) *People {
	cfg.defaults()
	dummy, _ := HashPassword(GeneratePassword())
	return &People{store: s, cfg: cfg, now: func() time.Time { return time.Now().UTC() }, dummy: dummy,
		hashSlots: make(chan struct{}, cfg.HashConcurrency)}
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
	p.cfg.Audit.Record(ctx, AuditPersonAdded, u.Email, "added as "+string(role))
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
	if err := p.store.SetUserRole(ctx, id, string(role), p.now()); err != nil {
		return err
	}
	p.cfg.Audit.Record(ctx, AuditRoleChanged, p.emailOf(ctx, id), "role set to "+string(role))
	return nil
}

// emailOf names a person in the audit trail by email, or by id when the
// email cannot be read.
func (p *People) emailOf(ctx context.Context, id string) string {
	if u, err := p.store.User(ctx, id); err == nil {
		return u.Email
	}
	return id
}

// SetDisabled disables (signing out everywhere) or re-enables a person; the
// last active admin cannot be disabled.
func (p *People) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if disabled {
		if err := p.keepAnAdmin(ctx, id); err != nil {
			return err
		}
	}
	if err := p.store.SetUserDisabled(ctx, id, disabled, p.now()); err != nil {
		return err
	}
	action := AuditPersonEnabled
	if disabled {
		action = AuditPersonDisabled
	}
	p.cfg.Audit.Record(ctx, action, p.emailOf(ctx, id), "")
	return nil
}

// SetPassword replaces a person's password and signs them out everywhere.
func (p *People) SetPassword(ctx context.Context, id, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u, err := p.store.User(ctx, id)
	if err != nil {
		return err
	}
	if err := p.store.SetUserPassword(ctx, id, hash, p.now()); err != nil {
		return err
	}
	p.cfg.Audit.Record(ctx, AuditPasswordReset, u.Email, "password replaced; signed out everywhere")
	// A reset is the remedy the sign-in page offers a locked-out person.
	_, err = p.Unlock(ctx, u.Email, "")
	return err
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

// failureKey is one count of failed sign-ins and its limit.
type failureKey struct {
	key   string
	limit int
}

// failureKeys lists the counts a sign-in for email from ip is checked
// against: the account from this address, the address for any account
// (with a higher limit, so a person who mistyped and was reset is not
// still locked out by their own address), and the account from any
// address (higher still, so that one stranger's guesses cannot lock a
// person out from their own address).
func (p *People) failureKeys(email, ip string) []failureKey {
	e := store.NormalizeEmail(email)
	keys := []failureKey{{"pair:" + e + "|" + ip, p.cfg.FailureLimit}}
	if ip != "" {
		keys = append(keys, failureKey{"ip:" + ip, p.cfg.AddressFailureLimit})
	}
	return append(keys, failureKey{"email:" + e, p.cfg.AccountFailureLimit})
}

// lockOutFor is the length of the lock-out that follows lockouts earlier
// ones in a row: LockOut, doubled each time, up to MaxLockOut.
func (p *People) lockOutFor(lockouts int) time.Duration {
	d := p.cfg.LockOut
	for range min(lockouts, 20) {
		d *= 2
		if d >= p.cfg.MaxLockOut {
			return p.cfg.MaxLockOut
		}
	}
	return d
}

// SignIn checks an email and password and opens a session, returning its
// secret token (for the cookie; only its hash is stored).
//
// Every attempt is counted as a failure before its password is hashed and
// taken back only when it succeeds, so a burst of concurrent guesses is
// cut off at the limit however fast it arrives. After FailureLimit
// failures for the account from one address, or from one address for any
// accounts, or AccountFailureLimit for the account from anywhere, within
// FailureWindow, sign-in is refused with a *LockedOutError, even with the
// right password; each lock-out in a row lasts twice as long as the last.
// At most HashConcurrency passwords are hashed at once; a sign-in that
// waits longer than HashWait for its turn gets ErrBusy.
func (p *People) SignIn(ctx context.Context, email, password, ip, userAgent string) (string, Session, error) {
	now := p.now()
	email = store.NormalizeEmail(email)
	if len(email) > 254 {
		email = email[:254]
	}
	keys := p.failureKeys(email, ip)
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.key
	}
	until, err := p.store.SignInLockedUntil(ctx, now, names...)
	if err != nil {
		return "", Session{}, err
	}
	if !until.IsZero() {
		p.cfg.Logger.Warn("sign-in refused: locked out", "email", email, "ip", ip, "until", until)
		return "", Session{}, &LockedOutError{Until: until}
	}
	attempts, err := p.reserve(ctx, keys, now)
	if err != nil {
		return "", Session{}, err
	}
	// From here on the reservations must be settled: released on success
	// or when the password was never checked, kept (and maybe locking) on
	// failure. Settling must happen even if the request is cancelled.
	settleCtx := context.WithoutCancel(ctx)
	release := func() {
		for _, k := range keys {
			if err := p.store.ReleaseSignInAttempt(settleCtx, k.key); err != nil {
				p.cfg.Logger.Error("sign-in attempt not released", "key", k.key, "err", err)
			}
		}
	}
	if locked := p.lockOver(settleCtx, keys, attempts, now, email, ip, false); !locked.IsZero() {
		return "", Session{}, &LockedOutError{Until: locked}
	}

	u, hash, err := p.store.UserByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		release()
		return "", Session{}, err
	}
	if !known {
		hash = p.dummy
	}
	ok, err := p.checkPassword(ctx, hash, password)
	if err != nil {
		release()
		return "", Session{}, err
	}
	if !ok || !known || u.DisabledAt != nil {
		p.cfg.Logger.Info("sign-in failed", "email", email, "ip", ip, "known", known)
		if locked := p.lockOver(settleCtx, keys, attempts, now, email, ip, true); !locked.IsZero() {
			return "", Session{}, &LockedOutError{Until: locked}
		}
		return "", Session{}, ErrBadCredentials
	}
	// The account's counts are cleared; the address's attempt is only taken
	// back: clearing it would let one valid account reset the count of an
	// attacker guessing others from the same address.
	if _, err := p.store.ClearSignInFailures(settleCtx, keys[0].key, keys[len(keys)-1].key); err != nil {
		return "", Session{}, err
	}
	if ip != "" {
		if err := p.store.ReleaseSignInAttempt(settleCtx, keys[1].key); err != nil {
			return "", Session{}, err
		}
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
	p.cfg.Audit.Record(WithActor(ctx, UserActor(u.Email, ip)), AuditSignIn, u.Email, "signed in")
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

// failureRetention is how long a sign-in failure count is kept after its
// window and its last lock-out ended; the back-off starts again after it.
const failureRetention = 24 * time.Hour

// Prune deletes expired sessions and the sign-in failure counts older than
// a day, and returns how many rows went. The server runs it daily.
func (p *People) Prune(ctx context.Context) (int64, error) {
	now := p.now()
	n, err := p.store.DeleteExpiredSessions(ctx, now)
	if err != nil {
		return n, err
	}
	m, err := p.store.PruneSignInFailures(ctx, now.Add(-failureRetention))
	return n + m, err
}

// reserve counts an attempt against every key, before the password is
// hashed.
func (p *People) reserve(ctx context.Context, keys []failureKey, now time.Time) ([]store.SignInAttempt, error) {
	attempts := make([]store.SignInAttempt, len(keys))
	for i, k := range keys {
		a, err := p.store.ReserveSignInAttempt(ctx, k.key, now, now.Add(-p.cfg.FailureWindow))
		if err != nil {
			for _, done := range keys[:i] {
				_ = p.store.ReleaseSignInAttempt(context.WithoutCancel(ctx), done.key)
			}
			return nil, err
		}
		attempts[i] = a
	}
	return attempts, nil
}

// lockOver locks out every key whose count has passed its limit and
// returns the latest lock-out in force (zero when none). Before the
// password is checked (failed false) a key is over its limit when this
// attempt is one more than the limit allows; after a failed check, when
// it reached the limit. An attempt refused here is never checked, so its
// reservation on the other keys is taken back: a locked address must not
// push the account itself towards its own lock-out.
func (p *People) lockOver(ctx context.Context, keys []failureKey, attempts []store.SignInAttempt, now time.Time, email, ip string, failed bool) time.Time {
	var latest time.Time
	for i, k := range keys {
		a := attempts[i]
		until := a.LockedUntil
		over := a.Failures > k.limit || (failed && a.Failures >= k.limit)
		if until.IsZero() && over {
			var err error
			until, err = p.store.LockSignIn(ctx, k.key, now, now.Add(p.lockOutFor(a.Lockouts)), k.limit)
			if err != nil {
				p.cfg.Logger.Error("sign-in lock-out not stored", "key", k.key, "err", err)
				until = now.Add(p.cfg.LockOut)
			} else if !until.IsZero() {
				p.cfg.Logger.Warn("sign-in locked out", "email", email, "ip", ip, "count", k.key[:strings.Index(k.key, ":")],
					"failures", a.Failures, "until", until)
				p.cfg.Audit.Record(WithActor(ctx, Actor{Name: "system", IP: ip}), AuditLockedOut, email,
					fmt.Sprintf("%d failed sign-ins (%s); locked until %s", a.Failures, k.key[:strings.Index(k.key, ":")], until.Format(time.RFC3339)))
			}
		}
		if until.After(latest) {
			latest = until
		}
	}
	if !latest.IsZero() && !failed {
		for i, k := range keys {
			if attempts[i].LockedUntil.IsZero() {
				_ = p.store.ReleaseSignInAttempt(ctx, k.key)
			}
		}
	}
	return latest
}

// checkPassword hashes password against hash once a hash slot is free.
func (p *People) checkPassword(ctx context.Context, hash, password string) (bool, error) {
	wait := time.NewTimer(p.cfg.HashWait)
	defer wait.Stop()
	select {
	case p.hashSlots <- struct{}{}:
	case <-wait.C:
		return false, ErrBusy
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-p.hashSlots }()
	return CheckPassword(hash, password), nil
}

// Unlock ends the lock-outs and forgets the failed sign-ins of an account
// (from every address) and, when ip is given, of that address; it returns
// how many counts were cleared. `moments users unlock` and a password
// reset call it.
func (p *People) Unlock(ctx context.Context, email, ip string) (int64, error) {
	e := store.NormalizeEmail(email)
	n, err := p.store.ClearSignInFailuresWithPrefix(ctx, "pair:"+e+"|")
	if err != nil {
		return 0, err
	}
	keys := []string{"email:" + e}
	if ip != "" {
		keys = append(keys, "ip:"+ip)
	}
	m, err := p.store.ClearSignInFailures(ctx, keys...)
	if err != nil {
		return n, err
	}
	n += m
	p.cfg.Audit.Record(ctx, AuditUnlocked, e, fmt.Sprintf("cleared %d sign-in failure counts", n))
	return n, nil
}
