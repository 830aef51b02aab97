package client

import (
	"testing"
	"time"
)

func TestRetryWait(t *testing.T) {
	for n := 1; n <= 12; n++ {
		full := min(retryBackoffMin<<(n-1), retryBackoffMax)
		for range 200 {
			if d := retryWait(n); d < full/2 || d >= full {
				t.Fatalf("retryWait(%d) = %v, want in [%v, %v)", n, d, full/2, full)
			}
		}
	}
}

func TestRetryBudget(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{0, DefaultRetryTimeout}, {-1, 0}, {-time.Hour, 0}, {time.Second, time.Second},
	} {
		if got := retryBudget(Config{RetryTimeout: tt.in}); got != tt.want {
			t.Errorf("retryBudget(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := retryBudget(DefaultConfig()); got != DefaultRetryTimeout {
		t.Errorf("retryBudget(DefaultConfig()) = %v", got)
	}
}
