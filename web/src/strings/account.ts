/**
 * The Account page: the password (and the server's password-policy refusals) and API tokens.
 * Vietnamese first, with full diacritics; English alongside, key by key.
 */
export const vi = {
  changePassword: 'Đổi mật khẩu',
  currentPassword: 'Mật khẩu hiện tại',
  newPassword: 'Mật khẩu mới',
  apiTokens: 'Mã truy cập API',
  tokenName: 'Tên mã',
  expiresInDays: 'Hết hạn sau (ngày)',
  revoke: 'Thu hồi',
  revoked: 'Đã thu hồi',
  created: 'Tạo lúc',
  expires: 'Hết hạn',
  newTokenOnce: 'Mã mới (chỉ hiện một lần, hãy sao chép ngay):',
  keepTokens: 'Giữ các mã truy cập API của tôi',
  tokensRevokedN: 'Đã thu hồi {n} mã truy cập API và phiên đăng nhập khác.',
  tokenDaysHint: 'mặc định {days} ngày, tối đa {max}',
  err_LOANET_PASSWORD_TOO_SHORT: 'Mật khẩu phải có ít nhất {limit} ký tự.',
  err_LOANET_PASSWORD_TOO_LONG: 'Mật khẩu không được dài quá {limit} ký tự.',
  err_LOANET_PASSWORD_HAS_USERNAME: 'Mật khẩu không được là tên đăng nhập hay tên đăng nhập thêm vài ký tự: bỏ tên đăng nhập đi vẫn phải còn ít nhất {limit} ký tự.',
  err_LOANET_PASSWORD_COMMON: 'Mật khẩu này quá phổ biến, kẻ tấn công sẽ thử nó đầu tiên; hãy chọn mật khẩu khác (ghép vài từ không liên quan là một mật khẩu mạnh).',
  err_LOANET_RATE_LIMITED: 'Nhập sai mật khẩu quá nhiều lần; hãy thử lại sau {seconds} giây hoặc nhờ quản trị viên mở khóa tài khoản.',
};

export const en: Record<keyof typeof vi, string> = {
  changePassword: 'Change password',
  currentPassword: 'Current password',
  newPassword: 'New password',
  apiTokens: 'API tokens',
  tokenName: 'Token name',
  expiresInDays: 'Expires in (days)',
  revoke: 'Revoke',
  revoked: 'Revoked',
  created: 'Created',
  expires: 'Expires',
  newTokenOnce: 'New token (shown once, copy it now):',
  keepTokens: 'Keep my API tokens',
  tokensRevokedN: 'Revoked {n} API tokens and other sessions.',
  tokenDaysHint: 'default {days} days, at most {max}',
  err_LOANET_PASSWORD_TOO_SHORT: 'The password must have at least {limit} characters.',
  err_LOANET_PASSWORD_TOO_LONG: 'The password must have at most {limit} characters.',
  err_LOANET_PASSWORD_HAS_USERNAME:
    'The password must not be the username or the username with a few characters added: without the username it must still have at least {limit} characters.',
  err_LOANET_PASSWORD_COMMON: 'This password is one of the most common ones, which attackers try first; choose another (a few unrelated words make a strong one).',
  err_LOANET_RATE_LIMITED: 'Too many wrong passwords; try again in {seconds} seconds or ask an admin to unlock the account.',
};
