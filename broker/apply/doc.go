// Package apply decodes committed raft entries and applies their commands
// to the engines (catalog for the meta group, queue for partition groups)
// inside the one storage transaction the FSM gives it. It is stateless and
// deterministic: time comes from the entry, never from the clock.
//
// Results: each command yields one result, either the engine's typed
// result or a business error (*broker.Error). Any other error is fatal to
// the replica and is returned as Apply's error.
package apply
