package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is a person who signs in to the UI. The password hash is never part
// of it; UserByEmail returns it separately for the one caller that needs it.
type User struct {
	ID           string     `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at"`
	DisabledAt   *time.Time `json:"disabled_at"`
}

// Session is a signed-in browser. Only the hash of its id is stored.
type Session struct {
	IDHash     []byte
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt slides forward with use, never past AbsoluteAt.
	ExpiresAt  time.Time
	AbsoluteAt time.Time
	IP         string
	UserAgent  string
}

// ErrUserExists is returned when a user with the same email exists.
var ErrUserExists = errors.New("a user with this email already exists")

const userCols = "id, email, name, role, created_at, updated_at, last_sign_in_at, disabled_at"

func scanUser(r scanner, extra ...any) (User, error) {
	var (
		u               User
		created, update int64
		signIn, disable sql.NullInt64
	)
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &created, &update, &signIn, &disable}, extra...)
	if err := r.Scan(dest...); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(update)
	u.LastSignInAt, u.DisabledAt = timePtr(signIn), timePtr(disable)
	return u, nil
}

// NormalizeEmail is the stored form of an email address: trimmed and
// lower-case, so that sign-in does not depend on how it was typed.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser stores a new user with its password hash.
func (s *Store) CreateUser(ctx context.Context, u User, passwordHash string) error {
	_, err := s.write.ExecContext(ctx,
		`INSERT INTO users (id, email, name, role, password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, NormalizeEmail(u.Email), u.Name, u.Role, passwordHash, micros(u.CreatedAt), micros(u.CreatedAt))
	if err != nil {
		if isUniqueViolation(err) {
			return ErrUserExists
		}
		return fmt.Errorf("store user: %w", err)
	}
	return nil
}

// isUniqueViolation recognises a UNIQUE or PRIMARY KEY conflict on both
// databases without importing either driver's error type.
func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505") ||
		strings.Contains(msg, "duplicate key value")
}

// UserByEmail returns the user with this email and its password hash.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, string, error) {
	var hash string
	u, err := scanUser(s.read.QueryRowContext(ctx,
		"SELECT "+userCols+", password FROM users WHERE email = $1", NormalizeEmail(email)), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", ErrNotFound
	}
	return u, hash, err
}

// User returns one user by id.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	return u, err
}

// ListUsers returns every user, by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY email")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	return appendRows(out, rows, func(r scanner) (User, error) { return scanUser(r) })
}

// CountUsers counts every user, disabled ones included.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}

func (s *Store) updateUser(ctx context.Context, id, set string, args ...any) error {
	res, err := s.write.ExecContext(ctx, "UPDATE users SET "+set+" WHERE id = $1", append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetUserRole changes a user's role.
func (s *Store) SetUserRole(ctx context.Context, id, role string, at time.Time) error {
	return s.updateUser(ctx, id, "role = $2, updated_at = $3", role, micros(at))
}

// SetUserPassword replaces a user's password hash and signs the user out
// everywhere: whoever knew the old password loses their session with it.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, at time.Time) error {
	if err := s.updateUser(ctx, id, "password = $2, updated_at = $3", hash, micros(at)); err != nil {
		return err
	}
	return s.DeleteUserSessions(ctx, id)
}

// SetUserDisabled disables (and signs out) or re-enables a user.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	if !disabled {
		return s.updateUser(ctx, id, "disabled_at = NULL, updated_at = $2", micros(at))
	}
	if err := s.updateUser(ctx, id, "disabled_at = COALESCE(disabled_at, $2), updated_at = $2", micros(at)); err != nil {
		return err
	}
	return s.DeleteUserSessions(ctx, id)
}

// TouchUserSignIn records a successful sign-in.
func (s *Store) TouchUserSignIn(ctx context.Context, id string, at time.Time) error {
	return s.updateUser(ctx, id, "last_sign_in_at = $2", micros(at))
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at, absolute_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		se.IDHash, se.UserID, micros(se.CreatedAt), micros(se.LastSeenAt), micros(se.ExpiresAt), micros(se.AbsoluteAt),
		se.IP, se.UserAgent)
	if err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

// SessionByHash returns a session that has not expired at now and its
// user, who must not be disabled; otherwise ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (Session, User, error) {
	var (
		se                               Session
		created, seen, expires, absolute int64
	)
	cols := "u.id, u.email, u.name, u.role, u.created_at, u.updated_at, u.last_sign_in_at, u.disabled_at"
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+cols+`, s.created_at, s.last_seen_at, s.expires_at, s.absolute_at, s.ip, s.user_agent
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL`, hash, micros(now)),
		&created, &seen, &expires, &absolute, &se.IP, &se.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return se, u, ErrNotFound
	}
	if err != nil {
		return se, u, fmt.Errorf("read session: %w", err)
	}
	se.IDHash, se.UserID = hash, u.ID
	se.CreatedAt, se.LastSeenAt = fromMicros(created), fromMicros(seen)
	se.ExpiresAt, se.AbsoluteAt = fromMicros(expires), fromMicros(absolute)
	return se, u, nil
}

// ExtendSession records use of a session and moves its expiry.
func (s *Store) ExtendSession(ctx context.Context, hash []byte, seen, expires time.Time) error {
	_, err := s.write.ExecContext(ctx, "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1",
		hash, micros(seen), micros(expires))
	return err
}

// DeleteSession ends one session (sign-out); ending an unknown one is not
// an error.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.write.ExecContext(ctx, "DELETE FROM sessions WHERE id_hash = $1", hash)
	return err
}

// DeleteUserSessions ends every session of a user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := s.write.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
	return err
}

// DeleteExpiredSessions removes sessions that expired before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= $1", micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// SignInLockedUntil returns the latest lock-out in force at now among keys,
// or the zero time when none is.
func (s *Store) SignInLockedUntil(ctx context.Context, now time.Time, keys ...string) (time.Time, error) {
	var until time.Time
	for _, k := range keys {
		var v sql.NullInt64
		err := s.read.QueryRowContext(ctx, "SELECT locked_until FROM sign_in_failures WHERE key = $1 AND locked_until > $2",
			k, micros(now)).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("read sign-in lock-out: %w", err)
		}
		if t := fromMicros(v.Int64); t.After(until) {
			until = t
		}
	}
	return until, nil
}

// SignInAttempt is the state of one sign-in failure key just after an
// attempt was reserved against it.
type SignInAttempt struct {
	// Failures counts the attempts of the current window, the reserved one
	// included: every attempt counts as a failure until it succeeds.
	Failures int
	// LockedUntil is the lock-out in force, or the zero time.
	LockedUntil time.Time
	// Lockouts counts the lock-outs of the key in a row.
	Lockouts int
}

// ReserveSignInAttempt counts a sign-in attempt against key before its
// password is checked, in one atomic statement, so that concurrent
// attempts cannot all pass a lock-out check that none of them has yet
// updated. A count whose window (started before windowStart) or lock-out
// is over starts again at one; a day after its last lock-out ended, the
// key's run of lock-outs starts again too.
func (s *Store) ReserveSignInAttempt(ctx context.Context, key string, now, windowStart time.Time) (SignInAttempt, error) {
	// restart: not locked now, and either the window is over or the count
	// ended in a lock-out that is over (locked_until > first_at).
	const restart = `(sign_in_failures.locked_until IS NULL OR sign_in_failures.locked_until <= $2) AND
		(sign_in_failures.first_at < $3 OR (sign_in_failures.locked_until IS NOT NULL AND sign_in_failures.locked_until > sign_in_failures.first_at))`
	var (
		a      SignInAttempt
		locked sql.NullInt64
	)
	err := s.write.QueryRowContext(ctx, `INSERT INTO sign_in_failures (key, failures, first_at, locked_until, lockouts)
		VALUES ($1, 1, $2, NULL, 0)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN `+restart+` THEN 1 ELSE sign_in_failures.failures + 1 END,
			first_at = CASE WHEN `+restart+` THEN $2 ELSE sign_in_failures.first_at END,
			lockouts = CASE WHEN sign_in_failures.locked_until IS NOT NULL AND sign_in_failures.locked_until < $4
				THEN 0 ELSE sign_in_failures.lockouts END
		RETURNING failures, locked_until, lockouts`,
		key, micros(now), micros(windowStart), micros(now.Add(-24*time.Hour))).Scan(&a.Failures, &locked, &a.Lockouts)
	if err != nil {
		return a, fmt.Errorf("reserve sign-in attempt: %w", err)
	}
	if locked.Valid && locked.Int64 > micros(now) {
		a.LockedUntil = fromMicros(locked.Int64)
	}
	return a, nil
}

// LockSignIn locks key out until until, counting one more lock-out, when
// it has at least limit failures and is not locked already; it returns the
// lock-out in force afterwards (zero when none). Of concurrent callers,
// only one sets the lock.
func (s *Store) LockSignIn(ctx context.Context, key string, now, until time.Time, limit int) (time.Time, error) {
	_, err := s.write.ExecContext(ctx, `UPDATE sign_in_failures SET locked_until = $2, lockouts = lockouts + 1
		WHERE key = $1 AND failures >= $3 AND (locked_until IS NULL OR locked_until <= $4)`,
		key, micros(until), limit, micros(now))
	if err != nil {
		return time.Time{}, fmt.Errorf("lock sign-in: %w", err)
	}
	return s.SignInLockedUntil(ctx, now, key)
}

// ReleaseSignInAttempt takes back an attempt reserved against key that did
// not fail (it succeeded, or was never checked).
func (s *Store) ReleaseSignInAttempt(ctx context.Context, key string) error {
	_, err := s.write.ExecContext(ctx, "UPDATE sign_in_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0", key)
	return err
}

// ClearSignInFailuresWithPrefix forgets the failures and lock-outs of every
// key that starts with prefix ("pair:<email>|" for every address that
// tried an account).
func (s *Store) ClearSignInFailuresWithPrefix(ctx context.Context, prefix string) (int64, error) {
	res, err := s.write.ExecContext(ctx, "DELETE FROM sign_in_failures WHERE substr(key, 1, $2) = $1", prefix, len(prefix))
	if err != nil {
		return 0, fmt.Errorf("clear sign-in failures: %w", err)
	}
	return res.RowsAffected()
}

// PruneSignInFailures deletes the failure keys whose count started before
// before and whose last lock-out, if any, ended before it too.
func (s *Store) PruneSignInFailures(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sign_in_failures
		WHERE first_at < $1 AND (locked_until IS NULL OR locked_until < $1)`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune sign-in failures: %w", err)
	}
	return res.RowsAffected()
}

// ClearSignInFailures forgets the failures and lock-outs counted against
// keys and returns how many keys had any.
func (s *Store) ClearSignInFailures(ctx context.Context, keys ...string) (int64, error) {
	var n int64
	for _, k := range keys {
		res, err := s.write.ExecContext(ctx, "DELETE FROM sign_in_failures WHERE key = $1", k)
		if err != nil {
			return n, fmt.Errorf("clear sign-in failures: %w", err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return n, nil
}
