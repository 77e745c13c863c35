"""Contains all the data models used in inputs/outputs"""

from .accepted import Accepted
from .account_update import AccountUpdate
from .account_update_role import AccountUpdateRole
from .book import Book
from .book_create import BookCreate
from .book_page import BookPage
from .book_update import BookUpdate
from .books_list_sort import BooksListSort
from .email_verification import EmailVerification
from .export_request import ExportRequest
from .export_request_format import ExportRequestFormat
from .job import Job
from .job_state import JobState
from .login import Login
from .o_auth_error import OAuthError
from .o_auth_error_error import OAuthErrorError
from .password_change import PasswordChange
from .password_reset import PasswordReset
from .password_reset_request import PasswordResetRequest
from .problem import Problem
from .problem_errors import ProblemErrors
from .profile_update import ProfileUpdate
from .refresh import Refresh
from .signup import Signup
from .status import Status
from .status_checks import StatusChecks
from .token_pair import TokenPair
from .token_request import TokenRequest
from .user import User
from .user_page import UserPage
from .user_role import UserRole
from .version import Version

__all__ = (
    "Accepted",
    "AccountUpdate",
    "AccountUpdateRole",
    "Book",
    "BookCreate",
    "BookPage",
    "BooksListSort",
    "BookUpdate",
    "EmailVerification",
    "ExportRequest",
    "ExportRequestFormat",
    "Job",
    "JobState",
    "Login",
    "OAuthError",
    "OAuthErrorError",
    "PasswordChange",
    "PasswordReset",
    "PasswordResetRequest",
    "Problem",
    "ProblemErrors",
    "ProfileUpdate",
    "Refresh",
    "Signup",
    "Status",
    "StatusChecks",
    "TokenPair",
    "TokenRequest",
    "User",
    "UserPage",
    "UserRole",
    "Version",
)
