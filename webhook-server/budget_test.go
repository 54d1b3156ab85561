package webhookserver

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudgetGrantsInOrderAndNeverOverTheLimit(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	// Two waiters: 8 (does not fit) queued before 2 (would fit): first come, first served.
	got := make(chan int64, 2)
	wait := func(n int64) {
		if err := b.acquire(context.Background(), n); err != nil {
			t.Errorf("acquire(%d): %v", n, err)
		}
		got <- n
	}
	go wait(8)
	waitForWaiters(t, b, 1)
	go wait(2)
	waitForWaiters(t, b, 2)
	if b.tryAcquire(1) {
		t.Error("tryAcquire went ahead of waiting requests")
	}
	b.release(4) // 2 in use: room for the 8, and then none for the 2
	if n := <-got; n != 8 {
		t.Errorf("first granted %d, want 8 (it asked first)", n)
	}
	select {
	case n := <-got:
		t.Fatalf("granted %d over the limit", n)
	case <-time.After(20 * time.Millisecond):
	}
	b.release(2)
	if n := <-got; n != 2 {
		t.Errorf("then %d, want 2", n)
	}
	if u := b.inUse(); u != 10 {
		t.Errorf("in use %d, want 10", u)
	}
	b.release(8)
	b.release(2)
	if u := b.inUse(); u != 0 {
		t.Errorf("in use after releasing everything: %d", u)
	}
}

func TestBudgetWaitEndsBusy(t *testing.T) {
	b := newBudget(10)
	if !b.tryAcquire(10) {
		t.Fatal("tryAcquire on an empty budget failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(ctx, 1); !errors.Is(err, errBusy) {
		t.Fatalf("acquire on a full budget: %v, want errBusy", err)
	}
	if len(b.waiters) != 0 {
		t.Errorf("%d waiters left after the wait ended", len(b.waiters))
	}
	b.release(10)
	if !b.tryAcquire(10) {
		t.Error("a timed-out waiter kept room")
	}
}

// A large waiter that gives up must let the smaller ones queued behind it in.
func TestBudgetWaiterGivingUpUnblocksTheQueue(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bigDone := make(chan error, 1)
	go func() { bigDone <- b.acquire(ctx, 10) }()
	waitForWaiters(t, b, 1)
	smallDone := make(chan error, 1)
	go func() { smallDone <- b.acquire(context.Background(), 3) }()
	waitForWaiters(t, b, 2)
	cancel()
	if err := <-bigDone; !errors.Is(err, errBusy) {
		t.Errorf("cancelled waiter: %v, want errBusy", err)
	}
	select {
	case err := <-smallDone:
		if err != nil {
			t.Errorf("small waiter: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the small waiter stayed blocked behind one that gave up")
	}
}

func waitForWaiters(t *testing.T, b *budget, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.waiters)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
