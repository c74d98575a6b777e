package sandboxcore

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLimiterQueueIsBoundedInSizeAndTime(t *testing.T) {
	l := newLimiter(1, 1, 50*time.Millisecond, time.Minute)
	if err := l.acquire(context.Background(), Interactive); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error)
	go func() { waited <- l.acquire(context.Background(), Interactive) }()
	for l.waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	if err := l.acquire(context.Background(), Interactive); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("queue full: err = %v, want ErrOverloaded", err)
	}
	if err := <-waited; !errors.Is(err, ErrOverloaded) {
		t.Fatalf("waited past maxWait: err = %v, want ErrOverloaded", err)
	}
	l.release()
	if err := l.acquire(context.Background(), Interactive); err != nil {
		t.Fatalf("free slot: %v", err)
	}
}

// Batch requests are not refused for a full queue: they wait for a slot
// (up to their own, longer wait), since a refusal burns a delivery attempt.
func TestLimiterLetsBatchWait(t *testing.T) {
	l := newLimiter(1, 0, 10*time.Millisecond, time.Minute)
	if err := l.acquire(context.Background(), Interactive); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire(context.Background(), Interactive); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("interactive with no queue room: %v", err)
	}
	got := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { got <- l.acquire(context.Background(), Batch) }()
	}
	for l.waiting() != 3 {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		time.Sleep(20 * time.Millisecond) // longer than the interactive wait
		l.release()
		if err := <-got; err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	short := newLimiter(1, 0, time.Millisecond, 20*time.Millisecond)
	_ = short.acquire(context.Background(), Batch)
	if err := short.acquire(context.Background(), Batch); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("batch past its own wait: %v", err)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatalf("LoadConfig with nothing set: %v", err)
	}
	if cfg.QueueWait <= 0 || cfg.Slots < 1 || cfg.Executor != ExecutorFork {
		t.Fatalf("defaults: %+v", cfg)
	}
}
