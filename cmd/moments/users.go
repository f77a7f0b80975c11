package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
)

func usersCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Add and list the people who sign in to the UI"}
	var email, role, name string
	var passwordStdin bool
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a person; reads the password from stdin with --password-stdin, or generates one and prints it once",
		Long: `Add a person who signs in to the UI with their email and a password.

Roles: admin (everything: API keys, people, settings), ops (journey map,
playbooks, reports; acts on any account), csm (their own accounts and
tasks; reads all accounts), viewer (reads everything, changes nothing).

Without --password-stdin a password is generated and printed alone on
stdout; it is stored only as an argon2id hash and will not be shown again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return err
			}
			password := ""
			if passwordStdin {
				if password, err = readPassword(cmd.InOrStdin()); err != nil {
					return err
				}
				if err := auth.CheckPasswordStrength(password); err != nil {
					return err
				}
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			u, pw, err := cliPeople(st).Add(cliContext(cmd), email, name, r, password)
			if errors.Is(err, store.ErrUserExists) {
				return fmt.Errorf("%s already has an account: see `moments users list`", store.NormalizeEmail(email))
			}
			if err != nil {
				return err
			}
			if !passwordStdin {
				fmt.Fprintln(cmd.OutOrStdout(), pw)
				fmt.Fprintf(cmd.ErrOrStderr(), "added %s (%s) with the generated password above; it will not be shown again\n", u.Email, u.Role)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "added %s (%s)\n", u.Email, u.Role)
			return nil
		},
	}
	add.Flags().StringVar(&email, "email", "", "the person's email address, used to sign in")
	add.Flags().StringVar(&role, "role", "", "admin, ops, csm or viewer")
	add.Flags().StringVar(&name, "name", "", "the person's name, as the UI shows it")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password (first line) from stdin instead of generating one")
	_ = add.MarkFlagRequired("email")
	_ = add.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List people and their roles (never their passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			users, err := st.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			if len(users) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no people yet: `moments serve` creates the first admin, or run `moments users add --email you@example.com --role admin`")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tCREATED\tLAST SIGN-IN\tSTATUS")
			for _, u := range users {
				status := "active"
				if u.DisabledAt != nil {
					status = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.Name, u.Role, u.CreatedAt.Format("2006-01-02 15:04:05"), when(u.LastSignInAt), status)
			}
			return tw.Flush()
		},
	}
	var address string
	unlock := &cobra.Command{
		Use:   "unlock EMAIL",
		Short: "End a person's sign-in lock-out after failed sign-ins, from every address",
		Long: `End the lock-out that failed sign-ins put on a person's account, from every
address, and forget the failures counted against it. With --address, also
end the lock-out of that address (for every account). Resetting the
person's password in Settings does the same for their account.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			email := store.NormalizeEmail(args[0])
			if _, _, err := st.UserByEmail(cmd.Context(), email); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no person with the email %s: see `moments users list`", email)
			} else if err != nil {
				return err
			}
			if _, err := cliPeople(st).Unlock(cliContext(cmd), email, address); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "unlocked %s: they can sign in again\n", email)
			return nil
		},
	}
	unlock.Flags().StringVar(&address, "address", "", "also end the lock-out of this IP address")
	cmd.AddCommand(add, list, unlock)
	return cmd
}

// cliPeople is the people service of a command, recording in the audit
// trail.
func cliPeople(st *store.Store) *auth.People {
	return auth.NewPeople(st, auth.PeopleConfig{Audit: auth.NewAudit(st, nil)})
}

// cliContext is the command's context with the command line as the actor
// of the audit trail.
func cliContext(cmd *cobra.Command) context.Context {
	return auth.WithActor(cmd.Context(), auth.Actor{Name: "cli"})
}

// readPassword reads the first line of r as the password.
func readPassword(r io.Reader) (string, error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(os.Stderr, "Password (it will be shown as you type; prefer piping it): ")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin: pipe one in, e.g. `printf '%s\\n' \"$PW\" | moments users add … --password-stdin`")
	}
	return pw, nil
}
