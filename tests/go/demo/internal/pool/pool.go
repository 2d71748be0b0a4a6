// Package pool is the demo's worker pool. It has two goroutine leaks, each
// reached through its own chain of nested calls so that creation stacks
// differ:
//
//	Dispatch -> startBatch -> spawnWorkers -> go worker      (worker waits on a
//	            results channel that the batch never drains once it times out)
//	Watch    -> armWatcher -> go watcher                     (waits on a stop
//	            channel that is never closed)
//
// Healthy goroutines (the ones that finish their job and exit) are created
// from Dispatch too, so a tracer sees both created-and-exited and piling-up
// goroutines.
package pool

import (
	"sync"
	"sync/atomic"
)

// Job is a unit of work: a checksum over Data.
type Job struct {
	ID   int
	Data []byte
}

// Pool counts its goroutines so the demo can print what it leaked.
type Pool struct {
	started  atomic.Int64
	finished atomic.Int64
	blocked  atomic.Int64
	mu       sync.Mutex
	stops    []chan struct{} // kept so the channels (and waiters) stay reachable
}

// Stats returns goroutines started, finished and currently blocked forever.
func (p *Pool) Stats() (started, finished, blocked int64) {
	return p.started.Load(), p.finished.Load(), p.blocked.Load()
}

// Dispatch runs jobs on a batch of workers. When leak is true the batch gives
// up after the first result and abandons the remaining workers, which then
// block forever sending on the unbuffered results channel.
func (p *Pool) Dispatch(jobs []Job, leak bool) uint32 {
	results := p.startBatch(jobs)
	if leak {
		return <-results
	}
	var sum uint32
	for range jobs {
		sum ^= <-results
	}
	return sum
}

func (p *Pool) startBatch(jobs []Job) chan uint32 {
	results := make(chan uint32) // unbuffered: abandoned senders block forever
	p.spawnWorkers(jobs, results)
	return results
}

func (p *Pool) spawnWorkers(jobs []Job, results chan uint32) {
	for i := range jobs {
		p.started.Add(1)
		go p.worker(jobs[i], results)
	}
}

func (p *Pool) worker(j Job, results chan uint32) {
	sum := checksum(j.Data)
	select {
	case results <- sum:
		p.finished.Add(1)
	default:
		// Nobody is receiving right now: count ourselves as blocked, then
		// wait (possibly forever) for the receiver.
		p.blocked.Add(1)
		results <- sum
		p.blocked.Add(-1)
		p.finished.Add(1)
	}
}

// Watch starts a watcher goroutine for name that waits for a stop signal
// nobody ever sends: a leak through a second, distinct call path.
func (p *Pool) Watch(name string) {
	stop := make(chan struct{})
	p.mu.Lock()
	p.stops = append(p.stops, stop)
	p.mu.Unlock()
	p.armWatcher(name, stop)
}

func (p *Pool) armWatcher(name string, stop chan struct{}) {
	p.started.Add(1)
	go p.watcher(name, stop)
}

func (p *Pool) watcher(name string, stop chan struct{}) {
	p.blocked.Add(1)
	<-stop // never closed
	p.blocked.Add(-1)
	p.finished.Add(1)
	_ = name
}

func checksum(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
