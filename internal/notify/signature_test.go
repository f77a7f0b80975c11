package notify

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	// Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
	got := Sign([]byte("whsec_test"), time.Unix(1700000000, 0), []byte(`{"a":1}`))
	require.Equal(t, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789", got)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_test")
	body := []byte(`{"event":"moment.started","account":"acct_1"}`)
	signedAt := time.Unix(1700000000, 0)
	header := Sign(secret, signedAt, body)
	ts := strconv.FormatInt(signedAt.Unix(), 10)
	v1 := strings.TrimPrefix(header, "t="+ts+",v1=")

	tests := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		tolerance time.Duration
		now       time.Time
		wantErr   error
		contains  string
	}{
		{name: "valid", header: header, now: signedAt.Add(time.Minute)},
		{name: "valid with spaces and an unknown scheme", header: " t=" + ts + ", v0=abc, v1=" + v1 + " ", now: signedAt},
		{name: "one of two signatures matches (secret rotation)", header: "t=" + ts + ",v1=" + strings.Repeat("00", 32) + ",v1=" + v1, now: signedAt},
		{name: "tampered body", header: header, body: []byte(`{"event":"moment.started","account":"acct_2"}`), now: signedAt, wantErr: ErrSignatureMismatch},
		{name: "wrong secret", secret: []byte("whsec_other"), header: header, now: signedAt, wantErr: ErrSignatureMismatch},
		{name: "timestamp changed", header: "t=" + strconv.FormatInt(signedAt.Unix()+60, 10) + ",v1=" + v1, now: signedAt, wantErr: ErrSignatureMismatch},
		{name: "old timestamp", header: header, now: signedAt.Add(6 * time.Minute), wantErr: ErrSignatureExpired, contains: "signed 6m0s ago"},
		{name: "old timestamp within a longer tolerance", header: header, tolerance: 10 * time.Minute, now: signedAt.Add(6 * time.Minute)},
		{name: "timestamp from the future", header: header, now: signedAt.Add(-6 * time.Minute), wantErr: ErrSignatureExpired},
		{name: "missing", header: "", now: signedAt, wantErr: ErrSignatureMissing},
		{name: "no timestamp", header: "v1=" + v1, now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "no v1", header: "t=" + ts, now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "two timestamps", header: "t=1,t=2,v1=" + v1, now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "timestamp not a number", header: "t=yesterday,v1=" + v1, now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "v1 not hex", header: "t=" + ts + ",v1=zz", now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "v1 too short", header: "t=" + ts + ",v1=abcd", now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "not key=value", header: "t=" + ts + ",garbage", now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "huge header", header: "t=" + ts + ",v1=" + v1 + strings.Repeat(",x=y", 2000), now: signedAt, wantErr: ErrSignatureMalformed},
		{name: "empty secret", secret: []byte{}, header: header, now: signedAt, contains: "secret is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := secret
			if tt.secret != nil {
				s = tt.secret
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			err := Verify(s, tt.header, b, tt.tolerance, tt.now)
			if tt.wantErr == nil && tt.contains == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			if tt.contains != "" {
				require.ErrorContains(t, err, tt.contains)
			}
		})
	}
}

// FuzzVerify feeds Verify headers from outside, as a receiver would get
// them: it must never panic and never accept a header that Sign did not
// make for this body.
func FuzzVerify(f *testing.F) {
	secret := []byte("whsec_fuzz")
	now := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)
	f.Add(Sign(secret, now, body))
	f.Add("t=1700000000,v1=00")
	f.Add("t=,v1=,,=")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		err := Verify(secret, header, body, time.Minute, now)
		if err == nil {
			// Only a header carrying the genuine MAC may pass (hex digits
			// in either case are the same MAC).
			require.Contains(t, strings.ToLower(header), strings.TrimPrefix(Sign(secret, now, body), "t=1700000000,"))
		}
	})
}
