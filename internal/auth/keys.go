// Package auth holds API keys and their scopes (and, with the web UI,
// people, roles and sessions).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Scopes of API keys.
const (
	// ScopeWrite may only send data to the tracking API (/v1).
	ScopeWrite = "write"
	// ScopeAdmin may use the REST API (/api/v1).
	ScopeAdmin = "admin"
)

// ErrInvalidKey means the key is unknown, revoked or malformed.
var ErrInvalidKey = errors.New("invalid or revoked API key")

// keyPrefix makes a leaked key recognisable by secret scanners and says
// its scope at a glance.
var keyPrefix = map[string]string{ScopeWrite: "mkw_", ScopeAdmin: "mka_"}

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		// 256 is not a multiple of 62; the bias this leaves (under 2%
		// for a few letters) costs a fraction of a bit of the key's
		// 190 bits.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// HashKey is the stored form of a key. Keys are 190 random bits, so a fast
// hash is safe: there is nothing to brute-force.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Keys issues and checks API keys.
type Keys struct {
	store *store.Store
	now   func() time.Time
	// cache avoids a database read per tracking request. A revoked key
	// stops working within cacheTTL in a server that had just used it.
	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     store.APIKey
	expires time.Time
}

const cacheTTL = 10 * time.Second

// NewKeys returns the key service over s.
func NewKeys(s *store.Store) *Keys {
	return &Keys{store: s, now: func() time.Time { return time.Now().UTC() }, cache: map[string]cachedKey{}}
}

// Create issues a key and returns its secret, which is never stored.
func (k *Keys) Create(ctx context.Context, scope, name string) (store.APIKey, string, error) {
	prefix, ok := keyPrefix[scope]
	if !ok {
		return store.APIKey{}, "", fmt.Errorf("unknown scope %q: use write or admin", scope)
	}
	if name == "" {
		name = scope
	}
	if len(name) > 200 {
		return store.APIKey{}, "", errors.New("a key name may be at most 200 characters")
	}
	secret := prefix + randomString(32)
	key := store.APIKey{ID: "key_" + strings.ToLower(randomString(12)), Name: name, Scope: scope, CreatedAt: k.now()}
	if err := k.store.CreateKey(ctx, key, HashKey(secret)); err != nil {
		return store.APIKey{}, "", err
	}
	return key, secret, nil
}

// Check returns the key for a secret if it exists, is not revoked and has
// the scope asked for. An admin key is accepted wherever a write key is.
func (k *Keys) Check(ctx context.Context, secret, scope string) (store.APIKey, error) {
	if secret == "" || len(secret) > 200 {
		return store.APIKey{}, ErrInvalidKey
	}
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[secret]
	k.mu.Unlock()
	if !ok || now.After(c.expires) {
		key, err := k.store.KeyByHash(ctx, HashKey(secret))
		if errors.Is(err, store.ErrNotFound) {
			return store.APIKey{}, ErrInvalidKey
		}
		if err != nil {
			return store.APIKey{}, err
		}
		c = cachedKey{key: key, expires: now.Add(cacheTTL)}
		k.mu.Lock()
		if len(k.cache) > 10000 {
			clear(k.cache)
		}
		k.cache[secret] = c
		k.mu.Unlock()
	}
	if c.key.Scope != scope && c.key.Scope != ScopeAdmin {
		return store.APIKey{}, fmt.Errorf("this key has scope %q; the request needs %q", c.key.Scope, scope)
	}
	return c.key, nil
}

// Bootstrap creates an admin key and a write key when the installation has
// no active key at all (first start) and returns their secrets; otherwise it
// returns nothing, so secrets are shown in clear exactly once.
func (k *Keys) Bootstrap(ctx context.Context) (admin, write string, err error) {
	n, err := k.store.CountKeys(ctx)
	if err != nil || n > 0 {
		return "", "", err
	}
	if _, admin, err = k.Create(ctx, ScopeAdmin, "first admin key"); err != nil {
		return "", "", err
	}
	if _, write, err = k.Create(ctx, ScopeWrite, "first write key"); err != nil {
		return "", "", err
	}
	return admin, write, nil
}
