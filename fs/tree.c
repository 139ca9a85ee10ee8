// SPDX-License-Identifier: MIT
/* placeholder: being written */
typedef int rtk_placeholder_tree;
