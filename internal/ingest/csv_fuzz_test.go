package ingest_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/ingest"
)

// FuzzAccountsCSV: any file gets an error or group messages each with an
// account id that the tracking API would accept; never a panic.
func FuzzAccountsCSV(f *testing.F) {
	f.Add([]byte("account_id,name,arr\nacme,Acme,48000\n"))
	f.Add([]byte("id,name\n\"a\"\"b\",x\n,y\n"))
	f.Add([]byte("account_id,renewal_date\nacme,2027-01-01\nb,not a date\n"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, bad, err := ingest.AccountsCSV(bytes.NewReader(data), received)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		for _, b := range bad {
			require.Positive(t, b.Line)
		}
		for _, m := range msgs {
			require.Equal(t, "group", m.Type)
			require.NotEmpty(t, m.GroupID)
		}
	})
}
