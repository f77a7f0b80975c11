package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// dbFlags are the flags that point the CLI at the database of cfg.
func dbFlags(cfg store.Config) []string {
	if cfg.DB != "" {
		return []string{"--db", cfg.DB}
	}
	return []string{"--data", cfg.Data}
}

// signIn signs email in with password through auth.People on the database
// the CLI wrote, as the UI would.
func signIn(t *testing.T, cfg store.Config, email, password string) error {
	t.Helper()
	st, err := store.Open(context.Background(), cfg)
	require.NoError(t, err)
	defer st.Close()
	_, se, err := auth.NewPeople(st, auth.PeopleConfig{}).SignIn(context.Background(), email, password, "203.0.113.7", "users_test")
	if err == nil {
		require.Equal(t, store.NormalizeEmail(email), se.User.Email)
	}
	return err
}

// TestUsersAddList adds people with a generated and a piped password,
// refuses bad input without writing anything, and lists everyone without
// a password or a hash.
func TestUsersAddList(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			cfg := storetest.Config(t, d)
			users := func(stdin string, args ...string) result {
				t.Helper()
				return run(t, stdin, append(append([]string{"users"}, args...), dbFlags(cfg)...)...)
			}

			// No one yet: a hint on stderr, nothing on stdout, exit 0.
			res := users("", "list")
			require.Zero(t, res.code, res.err)
			require.Empty(t, res.stdout)
			require.Contains(t, res.stderr, "no people yet")
			require.Contains(t, res.stderr, "moments users add --email you@example.com --role admin")

			// A CSM with a generated password: the password alone on stdout,
			// once; the email stored lower-case; the role case-insensitive.
			res = users("", "add", "--email", " Dana.Reyes@Northwind.Example ", "--role", "CSM", "--name", "Dana Reyes")
			require.Zero(t, res.code, "err: %v\nstderr:\n%s", res.err, res.stderr)
			out := lines(res.stdout)
			require.Len(t, out, 1, "the generated password is printed alone on stdout")
			generated := out[0]
			require.GreaterOrEqual(t, len(generated), auth.MinPasswordLength)
			require.Equal(t, strings.TrimSpace(generated), generated)
			require.Equal(t, "added dana.reyes@northwind.example (csm) with the generated password above; it will not be shown again\n", res.stderr)
			require.NotContains(t, res.stderr, generated)

			require.NoError(t, signIn(t, cfg, "dana.reyes@northwind.example", generated), "the printed password signs in")
			require.ErrorIs(t, signIn(t, cfg, "dana.reyes@northwind.example", generated+"x"), auth.ErrBadCredentials)

			// An admin with a piped password: only its first line counts, a
			// Windows line end is not part of it, and nothing goes to stdout.
			const piped = "tulip ledger orbit canyon"
			res = users(piped+"\r\nsecond line is ignored\n", "add", "--email", "ops.lead@northwind.example", "--role", "admin", "--password-stdin")
			require.Zero(t, res.code, "err: %v\nstderr:\n%s", res.err, res.stderr)
			require.Empty(t, res.stdout, "a piped password is never echoed")
			require.Equal(t, "added ops.lead@northwind.example (admin)\n", res.stderr)
			require.NoError(t, signIn(t, cfg, "Ops.Lead@northwind.example", piped))

			// A piped password without a line end is accepted too.
			res = users("viewer password 1", "add", "--email", "analyst@northwind.example", "--role", "viewer", "--password-stdin")
			require.Zero(t, res.code, res.err)

			// Bad input is refused with a clear message, a non-zero exit and
			// no person added.
			refusals := []struct {
				name    string
				stdin   string
				args    []string
				wantErr string
			}{
				{name: "unknown role", args: []string{"--email", "sam@northwind.example", "--role", "manager"},
					wantErr: `unknown role "manager": use admin, ops, csm or viewer`},
				{name: "empty role", args: []string{"--email", "sam@northwind.example", "--role", ""},
					wantErr: `unknown role "": use admin, ops, csm or viewer`},
				{name: "no at sign", args: []string{"--email", "sam.northwind.example", "--role", "csm"},
					wantErr: `"sam.northwind.example" is not an email address`},
				{name: "display name form", args: []string{"--email", "Sam <sam@northwind.example>", "--role", "csm"},
					wantErr: `"Sam <sam@northwind.example>" is not an email address`},
				{name: "blank email", args: []string{"--email", "  ", "--role", "csm"},
					wantErr: "an email address is required"},
				{name: "duplicate email in another case", args: []string{"--email", "DANA.REYES@northwind.example", "--role", "ops"},
					wantErr: "dana.reyes@northwind.example already has an account: see `moments users list`"},
				{name: "duplicate email with a piped password", stdin: "another long password\n",
					args:    []string{"--email", "ops.lead@northwind.example", "--role", "csm", "--password-stdin"},
					wantErr: "ops.lead@northwind.example already has an account"},
				{name: "too short piped password", stdin: "short pw 11\n",
					args:    []string{"--email", "sam@northwind.example", "--role", "csm", "--password-stdin"},
					wantErr: "a password must have at least 12 characters"},
				{name: "common piped password", stdin: "password1234\n",
					args:    []string{"--email", "sam@northwind.example", "--role", "csm", "--password-stdin"},
					wantErr: "this password is too easy to guess"},
				{name: "twelve spaces", stdin: "            \n",
					args:    []string{"--email", "sam@northwind.example", "--role", "csm", "--password-stdin"},
					wantErr: "this password is too easy to guess: it is only spaces"},
				{name: "empty stdin", stdin: "",
					args:    []string{"--email", "sam@northwind.example", "--role", "csm", "--password-stdin"},
					wantErr: "no password on stdin"},
				{name: "empty first line", stdin: "\nlong enough password\n",
					args:    []string{"--email", "sam@northwind.example", "--role", "csm", "--password-stdin"},
					wantErr: "no password on stdin"},
				{name: "name too long", args: []string{"--email", "sam@northwind.example", "--role", "csm", "--name", strings.Repeat("n", 201)},
					wantErr: "a name may have at most 200 characters"},
				{name: "no email", args: []string{"--role", "csm"}, wantErr: `required flag(s) "email" not set`},
				{name: "no role", args: []string{"--email", "sam@northwind.example"}, wantErr: `required flag(s) "role" not set`},
			}
			for _, tt := range refusals {
				res := users(tt.stdin, append([]string{"add"}, tt.args...)...)
				require.NotZero(t, res.code, tt.name)
				require.ErrorContains(t, res.err, tt.wantErr, tt.name)
				require.Empty(t, res.stdout, "%s: no password is printed for a refused person", tt.name)
			}
			require.ErrorIs(t, signIn(t, cfg, "sam@northwind.example", "long enough password"), auth.ErrBadCredentials,
				"no refused add created sam")

			// The list shows every person, by email, with their role and
			// never a password or a hash.
			res = users("", "list")
			require.Zero(t, res.code, res.err)
			require.Empty(t, res.stderr)
			got := lines(res.stdout)
			require.Len(t, got, 4, res.stdout)
			require.Regexp(t, `^EMAIL\s+NAME\s+ROLE\s+CREATED\s+LAST SIGN-IN\s+STATUS$`, got[0])
			const stamp = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`
			require.Regexp(t, `^analyst@northwind\.example\s+viewer\s+`+stamp+`\s+never\s+active$`, got[1])
			require.Regexp(t, `^dana\.reyes@northwind\.example\s+Dana Reyes\s+csm\s+`+stamp+`\s+`+stamp+`\s+active$`, got[2])
			require.Regexp(t, `^ops\.lead@northwind\.example\s+admin\s+`+stamp+`\s+`+stamp+`\s+active$`, got[3])
			for _, secret := range []string{generated, piped, "viewer password 1", "$argon2id$", "argon2"} {
				require.NotContains(t, res.stdout, secret)
			}
			require.NoError(t, signIn(t, cfg, "analyst@northwind.example", "viewer password 1"))
		})
	}
}

// TestUsersBadRoleTouchesNoDatabase: a wrong role is refused before the
// database is opened, so a typo never creates an empty data directory.
func TestUsersBadRoleTouchesNoDatabase(t *testing.T) {
	t.Parallel()
	data := t.TempDir() + "/not-created"
	res := run(t, "", "users", "add", "--data", data, "--email", "sam@northwind.example", "--role", "superuser")
	require.Equal(t, 1, res.code)
	require.ErrorContains(t, res.err, `unknown role "superuser"`)
	require.NoDirExists(t, data)
}

// TestUsersUnlock: a person locked out by failed sign-ins signs in again
// after `moments users unlock`, and the unlock is in the audit trail.
func TestUsersUnlock(t *testing.T) {
	t.Parallel()
	cfg := storetest.Config(t, store.SQLite)
	const pw = "tulip ledger orbit canyon"
	res := run(t, pw+"\n", append([]string{"users", "add", "--email", "dana@northwind.example", "--role", "csm", "--password-stdin"}, dbFlags(cfg)...)...)
	require.Zero(t, res.code, res.err)
	for range 5 {
		_ = signIn(t, cfg, "dana@northwind.example", "not the password")
	}
	var locked *auth.LockedOutError
	require.ErrorAs(t, signIn(t, cfg, "dana@northwind.example", pw), &locked)

	res = run(t, "", append([]string{"users", "unlock", "Dana@northwind.example"}, dbFlags(cfg)...)...)
	require.Zero(t, res.code, res.err)
	require.Equal(t, "unlocked dana@northwind.example: they can sign in again\n", res.stderr)
	require.NoError(t, signIn(t, cfg, "dana@northwind.example", pw))

	res = run(t, "", append([]string{"users", "unlock", "nobody@northwind.example"}, dbFlags(cfg)...)...)
	require.NotZero(t, res.code)
	require.ErrorContains(t, res.err, "no person with the email nobody@northwind.example")

	st, err := store.Open(context.Background(), cfg)
	require.NoError(t, err)
	defer st.Close()
	entries, _, err := st.ListAudit(context.Background(), store.AuditFilter{Action: auth.AuditUnlocked}, store.Page{})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "cli", entries[0].Actor)
}
