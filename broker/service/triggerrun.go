package service

import "sync"

// triggerRuns holds the trigger pollers this node runs: one per trigger
// and source partition this node leads.
type triggerRuns struct {
	mu   sync.Mutex
	kick chan struct{}
}

// kickTriggers asks the trigger supervisor to look at the catalogue now.
func (s *Service) kickTriggers() {
	select {
	case s.trig.kick <- struct{}{}:
	default:
	}
}
