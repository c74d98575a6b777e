package sandboxcore

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLimiterQueueIsBoundedInSizeAndTime(t *testing.T) {
	l := newLimiter(1, 1, 50*time.Millisecond)
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error)
	go func() { waited <- l.acquire(context.Background()) }()
	for l.waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	if err := l.acquire(context.Background()); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("queue full: err = %v, want ErrOverloaded", err)
	}
	if err := <-waited; !errors.Is(err, ErrOverloaded) {
		t.Fatalf("waited past maxWait: err = %v, want ErrOverloaded", err)
	}
	l.release()
	if err := l.acquire(context.Background()); err != nil {
		t.Fatalf("free slot: %v", err)
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
