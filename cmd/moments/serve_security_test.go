package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/app"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "moments test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// TestServeTLSAndMetricsAddr: with a certificate the server speaks HTTPS
// and sends HSTS; with --metrics-addr, /metrics is served there and not on
// the main port.
func TestServeTLSAndMetricsAddr(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	cert, key := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	checked := make(chan struct{})
	go func() {
		done <- serve(ctx, &out, slog.New(slog.DiscardHandler), st, serveOptions{addr: "127.0.0.1:0",
			security: serverSecurity{tlsCert: cert, tlsKey: key, metricsAddr: "127.0.0.1:0"},
			ready: func(_ context.Context, _ *app.App, url, _, _ string) error {
				defer close(checked)
				require.Regexp(t, `^https://127\.0\.0\.1:\d+$`, url)
				client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a test certificate
				res, err := client.Get(url + "/healthz")
				require.NoError(t, err)
				res.Body.Close()
				require.Equal(t, http.StatusOK, res.StatusCode)
				require.Equal(t, "max-age=31536000", res.Header.Get("Strict-Transport-Security"))
				res, err = client.Get(url + "/metrics")
				require.NoError(t, err)
				res.Body.Close()
				require.Equal(t, http.StatusNotFound, res.StatusCode, "not on the main port")
				m := regexp.MustCompile(`Metrics are served on (http://\S+)`).FindStringSubmatch(out.String())
				require.NotNil(t, m, out.String())
				res, err = http.Get(m[1])
				require.NoError(t, err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				require.Equal(t, http.StatusOK, res.StatusCode)
				require.Contains(t, string(body), "moments_http_requests_total")
				return nil
			}})
	}()
	select {
	case <-checked:
	case err := <-done:
		t.Fatalf("serve ended early: %v", err)
	}
	cancel()
	require.NoError(t, <-done)

	err := serve(context.Background(), io.Discard, slog.New(slog.DiscardHandler), st, serveOptions{addr: "127.0.0.1:0",
		security: serverSecurity{tlsCert: cert}})
	require.ErrorContains(t, err, "--tls-cert and --tls-key go together")
}
