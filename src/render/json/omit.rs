//! What the record leaves out (serde's `skip_serializing_if`): a field that is null, empty,
//! zero or false is absent, so a consumer reads a missing field as that value.

pub(super) fn zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

pub(super) fn not(v: &bool) -> bool {
    !*v
}
