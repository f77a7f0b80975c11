package main

import (
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
)

func keysCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create, list and revoke API keys"}
	var scope, name string
	var server bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a key and print it alone on stdout (it is stored only as a hash)",
		Long: `Create an API key and print it alone on stdout; it is stored only as a hash.

A write key sends events to the tracking API (/v1). It is public whenever a
browser SDK uses it, so the tracking API ignores the traits that steer
email and rights (a contact's email and names, an account's owner) sent
with it. A server write key (--scope write --server) may set them: keep it
on your servers, never in a browser. An admin key uses the REST API
(/api/v1) and is refused by the tracking API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server && scope != auth.ScopeWrite {
				return fmt.Errorf("--server applies to write keys only: use --scope write --server")
			}
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			keys := cliKeys(st)
			var (
				k      store.APIKey
				secret string
			)
			if server {
				k, secret, err = keys.CreateServer(cliContext(cmd), name)
			} else {
				k, secret, err = keys.Create(cliContext(cmd), scope, name)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			kind := k.Scope
			if k.Server {
				kind = "server write"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created %s key %s (%s); it will not be shown again\n", kind, k.ID, k.Name)
			return nil
		},
	}
	create.Flags().StringVar(&scope, "scope", "", "write (tracking API) or admin (REST API)")
	create.Flags().StringVar(&name, "name", "", "a name to recognise the key by")
	create.Flags().BoolVar(&server, "server", false, "a write key kept on a server, which may set contacts' email and names and accounts' owner")
	_ = create.MarkFlagRequired("scope")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSCOPE\tNAME\tCREATED\tLAST USED\tSTATUS")
			for _, k := range keys {
				if k.Server {
					k.Scope = "write (server)"
				}
				status := "active"
				if k.RevokedAt != nil {
					status = "revoked " + k.RevokedAt.Format(time.DateOnly)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Scope, k.Name, k.CreatedAt.Format(time.DateTime), when(k.LastUsedAt), status)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key; requests with it are refused from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := df.open(cmd.Context(), newLogger(slog.LevelWarn))
			if err != nil {
				return err
			}
			defer st.Close()
			err = cliKeys(st).Revoke(cliContext(cmd), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no key %q: see `moments keys list`", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "revoked %s (a running server stops accepting it within 10 seconds)\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.DateTime)
}

// cliKeys is the key service of a command, recording in the audit trail.
func cliKeys(st *store.Store) *auth.Keys {
	k := auth.NewKeys(st)
	k.SetAudit(auth.NewAudit(st, nil))
	return k
}
