// unique_so: a .so that glibc can never unload. Built WITHOUT -fno-gnu-unique (it does not link
// modref::module), so GCC makes the static local below an STB_GNU_UNIQUE symbol; glibc marks an
// object whose unique symbol was bound as not deletable, and dlclose keeps it mapped.
inline int& unique_counter() {
  static int counter = 0;  // _ZZ14unique_countervE7counter: UNIQUE in `readelf -Ws`
  return counter;
}

extern "C" __attribute__((visibility("default"))) int unique_next() { return ++unique_counter(); }
