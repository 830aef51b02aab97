package broker

import (
	"errors"
	"testing"
	"time"
)

func TestStreamScalingValidate(t *testing.T) {
	good := []StreamScaling{{}, {ShardRecordsPerSec: 1, ShardBytesPerSec: 1, MaxShards: 1, CooldownMs: 100, WindowMs: 100},
		{ShardRecordsPerSec: MaxShardRecordsPerSec, ShardBytesPerSec: MaxShardBytesPerSec, MaxShards: MaxStreamShards,
			CooldownMs: MaxScaleDuration.Milliseconds(), WindowMs: MaxScaleDuration.Milliseconds()}}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := map[string]StreamScaling{
		"ShardRecordsPerSec": {ShardRecordsPerSec: -1},
		"ShardBytesPerSec":   {ShardBytesPerSec: MaxShardBytesPerSec + 1},
		"MaxShardCount":      {MaxShards: MaxStreamShards + 1},
		"ScaleCooldown":      {CooldownMs: 99},
		"ScaleWindow":        {WindowMs: MaxScaleDuration.Milliseconds() + 1},
	}
	for field, s := range bad {
		err := s.Validate()
		var be *Error
		if !errors.As(err, &be) || be.Field != field || !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: error %v, want an invalid argument naming %s", s, err, field)
		}
	}
}

func TestStreamScalingResolve(t *testing.T) {
	r := StreamScaling{MaxShards: 3}.Resolve()
	if r.ShardRecordsPerSec != DefaultShardRecordsPerSec || r.ShardBytesPerSec != DefaultShardBytesPerSec || r.MaxShards != 3 ||
		r.CooldownMs != DefaultScaleCooldown.Milliseconds() || r.WindowMs != (60*time.Second).Milliseconds() {
		t.Errorf("resolved %+v", r)
	}
}
