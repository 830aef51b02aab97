// Package broker is Nimbus's shared vocabulary: resource names and their
// validation, limits and defaults, message and attribute types, and the one
// set of sentinel errors that every layer wraps and the API layers map to
// wire codes. It imports the standard library only.
package broker
