// libpng, the one system library the clipgen runtime links (Debian/Ubuntu: apt install libpng-dev).
#include <png.h>
