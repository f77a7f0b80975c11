package report_test

import (
	"cmp"
	"context"
	"encoding/csv"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/moments-cs/moments/internal/ingest"
	"github.com/moments-cs/moments/internal/report"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
)

// TestDriversAgreeWithLogisticRegressionOnPublicChurnData imports a public
// churn data set (testdata/iranian-churn, CC BY 4.0) as accounts, as
// `moments import accounts` does, and checks that the drivers report
// agrees with plain logistic regressions on which signals matter most:
// the regression of churn on each column alone, ranked by the Wald z of
// its coefficient, has the same three strongest columns as the drivers
// report; every column the regression finds at p < 0.001 is a significant
// driver, and none it finds nothing in (|z| < 1) is.
func TestDriversAgreeWithLogisticRegressionOnPublicChurnData(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/iranian-churn/churn.csv")
	require.NoError(t, err)
	rows, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	require.NoError(t, err)
	header, rows := rows[0], rows[1:]

	// The export has no account id: number the customers, as a CRM export
	// would carry them.
	var b strings.Builder
	w := csv.NewWriter(&b)
	require.NoError(t, w.Write(append([]string{"id", "name"}, header...)))
	for i, r := range rows {
		id := "cust" + strconv.Itoa(i+1)
		require.NoError(t, w.Write(append([]string{id, "Customer " + strconv.Itoa(i+1)}, r...)))
	}
	w.Flush()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	msgs, bad, err := ingest.AccountsCSV(strings.NewReader(b.String()), now)
	require.NoError(t, err)
	require.Empty(t, bad)
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	_, err = st.Ingest(ctx, "import", msgs)
	require.NoError(t, err)

	d, err := report.DriversReport(ctx, st, report.OutcomeQuery{Outcome: `account.Churn > 0.5`, Now: now.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, len(rows), d.Accounts)
	require.Equal(t, 49, d.Positives)
	var drivers []string // columns, strongest first
	for _, dr := range d.Drivers {
		col, _, _ := strings.Cut(dr.Signal, ":")
		col, _, _ = strings.Cut(col, " = ")
		if dr.Significant && !slices.Contains(drivers, col) {
			drivers = append(drivers, col)
		}
	}
	require.GreaterOrEqual(t, len(drivers), 3, "%v", d.Drivers)

	// The plain logistic regressions, one column at a time.
	churn := slices.Index(header, "Churn")
	y := make([]float64, len(rows))
	for i, r := range rows {
		y[i], err = strconv.ParseFloat(r[churn], 64)
		require.NoError(t, err)
	}
	type fit struct {
		col string
		z   float64
	}
	var fits []fit
	for j, col := range header {
		if j == churn {
			continue
		}
		x := make([]float64, len(rows))
		for i, r := range rows {
			x[i], err = strconv.ParseFloat(r[j], 64)
			require.NoError(t, err)
		}
		beta, se, ok := logistic(x, y)
		if !ok {
			continue // separates the outcome (Tariff Plan 2: no churner); no estimate
		}
		fits = append(fits, fit{col, math.Abs(beta / se)})
	}
	slices.SortFunc(fits, func(a, b fit) int { return cmp.Compare(b.z, a.z) })
	var regression []string
	for _, f := range fits {
		regression = append(regression, f.col)
	}
	t.Logf("drivers (significant, strongest first): %v", drivers)
	t.Logf("logistic regression by |z|: %v", fits)
	// The same three signals matter most (Status, Complains, Frequency of
	// use), in either order.
	require.ElementsMatch(t, regression[:3], drivers[:3])
	for _, f := range fits {
		switch {
		case f.z > 3.29: // p < 0.001 in the regression
			require.Contains(t, drivers, f.col, "the regression finds it, the drivers report does not")
		case f.z < 1:
			require.NotContains(t, drivers, f.col, "the regression finds nothing, the drivers report does")
		}
	}
}

// logistic fits P(y) = 1 / (1 + e^−(a + b·x)) by Newton's method (x
// standardised) and returns b and its standard error; ok is false when the
// fit does not converge (x separates the outcome).
func logistic(x, y []float64) (b, se float64, ok bool) {
	n := len(x)
	mean, sd := 0.0, 0.0
	for _, v := range x {
		mean += v / float64(n)
	}
	for _, v := range x {
		sd += (v - mean) * (v - mean) / float64(n-1)
	}
	sd = math.Sqrt(sd)
	if sd == 0 {
		return 0, 0, false
	}
	X := mat.NewDense(n, 2, nil)
	for i, v := range x {
		X.Set(i, 0, 1)
		X.Set(i, 1, (v-mean)/sd)
	}
	beta := mat.NewVecDense(2, nil)
	var cov mat.Dense
	for range 50 {
		var eta mat.VecDense
		eta.MulVec(X, beta)
		grad := mat.NewVecDense(2, nil)
		hess := mat.NewDense(2, 2, nil)
		for i := range n {
			p := 1 / (1 + math.Exp(-eta.AtVec(i)))
			for a := range 2 {
				grad.SetVec(a, grad.AtVec(a)+X.At(i, a)*(y[i]-p))
				for c := range 2 {
					hess.Set(a, c, hess.At(a, c)+X.At(i, a)*X.At(i, c)*p*(1-p))
				}
			}
		}
		if err := cov.Inverse(hess); err != nil {
			return 0, 0, false
		}
		var step mat.VecDense
		step.MulVec(&cov, grad)
		beta.AddVec(beta, &step)
		if mat.Norm(&step, 2) < 1e-10 {
			return beta.AtVec(1), math.Sqrt(cov.At(1, 1)), true
		}
	}
	return 0, 0, false
}
